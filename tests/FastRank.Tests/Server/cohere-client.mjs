// Calls a rerank server through Cohere's own JavaScript SDK (npm cohere-ai), as a user of that SDK would:
// only the base URL (`environment`) and the token change. Reads one JSON request on stdin:
//   { "modules": DIR, "baseUrl": URL, "token": KEY, "model": NAME, "query": Q, "documents": [...], "topN": N }
// and writes { "v2": ..., "v1": ..., "v1Error": ... } on stdout: the SDK's parsed responses (or the error it threw).
import { createRequire } from "node:module";
import path from "node:path";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const req = JSON.parse(input);
const require = createRequire(path.join(req.modules, "node_modules", "cohere-ai", "package.json"));
const { CohereClientV2, CohereClient } = require("cohere-ai");

const v2 = new CohereClientV2({ token: req.token, environment: req.baseUrl });
const v1 = new CohereClient({ token: req.token, environment: req.baseUrl });
const out = {};
out.v2 = await v2.rerank({ model: req.model, query: req.query, documents: req.documents, topN: req.topN });
out.v1 = await v1.rerank({ model: req.model, query: req.query, documents: req.documents, topN: req.topN, returnDocuments: true });
try {
  await new CohereClientV2({ token: "wrong-key", environment: req.baseUrl }).rerank({ model: req.model, query: req.query, documents: req.documents });
  out.v2Error = null;
} catch (e) {
  out.v2Error = { name: e.constructor.name, statusCode: e.statusCode ?? null, body: e.body ?? null };
}
process.stdout.write(JSON.stringify(out));
