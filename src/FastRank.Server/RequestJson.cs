using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace FastRank.Server;

/// <summary>
/// Reads a request body and the text of its JSON strings without <see cref="System.Buffers.ArrayPool{T}.Shared"/>'s
/// body-sized buffers. <c>JsonDocument.ParseAsync</c> reads a stream into pooled buffers that double up to the
/// body's size, and <c>JsonElement.GetString</c> unescapes each long escaped string into a pooled buffer of its
/// size; the shared pool keeps what is returned (one array per size per thread, and several per size per core),
/// trimming only after a minute without use. Megabyte bodies of escaped text (control characters, non-ASCII text
/// as <c>\uXXXX</c>) thus left the server's settled memory growing with every new size and thread it met (the
/// soak's server phase: live managed heap 96 -> 201 MB over 1,800 calls). Here the body is read into one array of
/// its own size and strings are decoded into ordinary arrays: garbage the next collection frees.
/// The parsed document's own index (its metadata rows) is still rented by System.Text.Json: at most the body's size
/// for bodies up to 1 MB and over 4 MB, 1 MB between.
/// </summary>
internal static class RequestJson
{
    /// <summary>Decodes UTF-8 as System.Text.Json does: invalid bytes are an error, not replacement characters.</summary>
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads the body (at most <paramref name="maxBytes"/>; Kestrel enforces the same limit) and parses it.</summary>
    /// <exception cref="JsonException">The body is not JSON.</exception>
    public static async Task<JsonDocument> ParseAsync(HttpRequest request, long maxBytes, CancellationToken ct)
    {
        var body = await ReadAsync(request.Body, request.ContentLength, maxBytes, ct).ConfigureAwait(false);
        // A UTF-8 byte order mark is skipped, as JsonDocument.ParseAsync does.
        if (body.Span.StartsWith("\uFEFF"u8)) body = body[3..];
        return JsonDocument.Parse(body);
    }

    /// <summary>The whole body in one array: of its declared length, or grown by doubling when it has none (chunked).</summary>
    internal static async Task<ReadOnlyMemory<byte>> ReadAsync(Stream body, long? contentLength, long maxBytes, CancellationToken ct)
    {
        if (contentLength is { } length)
        {
            if (length > maxBytes) throw ApiException.PayloadTooLarge(length, maxBytes);
            var exact = new byte[length];
            int read = await body.ReadAtLeastAsync(exact, exact.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
            if (read < exact.Length) throw ApiException.BadRequest($"the body ended after {read} of its {length} bytes");
            return exact;
        }
        var buffer = new byte[(int)Math.Min(maxBytes, 16 * 1024)];
        int filled = 0;
        while (true)
        {
            if (filled == buffer.Length)
            {
                if (buffer.Length >= maxBytes) throw ApiException.PayloadTooLarge(filled + 1L, maxBytes);
                Array.Resize(ref buffer, (int)Math.Min(Math.Min(maxBytes, Array.MaxLength), buffer.Length * 2L));
            }
            int n = await body.ReadAsync(buffer.AsMemory(filled), ct).ConfigureAwait(false);
            if (n == 0) return buffer.AsMemory(0, filled);
            filled += n;
        }
    }

    /// <summary>
    /// The text of a JSON string (as <see cref="JsonElement.GetString"/>), unescaped into an ordinary array.
    /// </summary>
    /// <exception cref="InvalidOperationException">The string is not UTF-16 text: invalid UTF-8, or an escaped lone surrogate such as <c>\ud800</c>.</exception>
    public static string Text(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.String) throw new InvalidOperationException($"a {value.ValueKind}, not a string");
        var raw = JsonMarshal.GetRawUtf8Value(value);
        // The raw value is the token as written, quotes included.
        if (raw.Length >= 2 && raw[0] == (byte)'"' && raw[^1] == (byte)'"') raw = raw[1..^1];
        if (raw.IndexOf((byte)'\\') < 0) return Decode(raw);
        // UTF-16 never takes more units than the UTF-8 bytes or escapes it came from.
        var chars = new char[raw.Length];
        int written = Unescape(raw, chars);
        return new string(chars, 0, written);
    }

    private static string Decode(ReadOnlySpan<byte> utf8)
    {
        try
        {
            return StrictUtf8.GetString(utf8);
        }
        catch (DecoderFallbackException ex)
        {
            throw new InvalidOperationException("the string is not valid UTF-8", ex);
        }
    }

    /// <summary>Unescapes the inside of a JSON string the reader has validated (every escape well formed).</summary>
    private static int Unescape(ReadOnlySpan<byte> raw, Span<char> to)
    {
        int w = 0;
        while (raw.Length > 0)
        {
            int slash = raw.IndexOf((byte)'\\');
            var run = slash < 0 ? raw : raw[..slash];
            if (run.Length > 0)
            {
                try
                {
                    w += StrictUtf8.GetChars(run, to[w..]);
                }
                catch (DecoderFallbackException ex)
                {
                    throw new InvalidOperationException("the string is not valid UTF-8", ex);
                }
            }
            if (slash < 0) break;
            raw = raw[slash..];
            byte kind = raw[1];
            if (kind != (byte)'u')
            {
                to[w++] = kind switch
                {
                    (byte)'n' => '\n',
                    (byte)'t' => '\t',
                    (byte)'r' => '\r',
                    (byte)'b' => '\b',
                    (byte)'f' => '\f',
                    _ => (char)kind, // " \ /
                };
                raw = raw[2..];
                continue;
            }
            char unit = Hex4(raw[2..6]);
            raw = raw[6..];
            if (char.IsLowSurrogate(unit)) throw new InvalidOperationException("the string escapes a lone low surrogate");
            to[w++] = unit;
            if (!char.IsHighSurrogate(unit)) continue;
            // A high surrogate must be followed by an escaped low one (UTF-8 cannot carry a surrogate).
            if (raw.Length < 6 || raw[0] != (byte)'\\' || raw[1] != (byte)'u' || !char.IsLowSurrogate(Hex4(raw[2..6])))
                throw new InvalidOperationException("the string escapes a lone high surrogate");
            to[w++] = Hex4(raw[2..6]);
            raw = raw[6..];
        }
        return w;
    }

    private static char Hex4(ReadOnlySpan<byte> hex)
    {
        int v = 0;
        foreach (byte b in hex)
        {
            int d = b switch
            {
                >= (byte)'0' and <= (byte)'9' => b - '0',
                >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
                _ => throw new InvalidOperationException("the string has a malformed \\u escape"),
            };
            v = (v << 4) | d;
        }
        return (char)v;
    }
}
