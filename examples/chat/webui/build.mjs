// Builds static/app.js from src/ with esbuild: `npm ci && npm run build`
// (or `make chat-web`). The first line of the bundle records a hash of its
// sources; a Go test (webui_test.go) fails when they have changed since.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";

// sourcesHash must match sourcesHash in webui_test.go.
export function sourcesHash() {
  const files = ["build.mjs", "package-lock.json", ...readdirSync("src").filter((f) => f.endsWith(".ts")).map((f) => "src/" + f)].sort();
  const h = createHash("sha256");
  for (const f of files) {
    h.update(f + "\n");
    h.update(readFileSync(f));
    h.update("\n");
  }
  return h.digest("hex");
}

const out = process.argv[2] ?? "static/app.js";
await build({
  entryPoints: ["src/app.ts"],
  bundle: true,
  format: "iife",
  target: "es2020",
  minify: true,
  legalComments: "none",
  outfile: out,
  banner: { js: `// Built by build.mjs from src/ (sources sha256 ${sourcesHash()}). DO NOT EDIT.` },
  logLevel: "warning",
});
