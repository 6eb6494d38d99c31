// The page's build: the TypeScript bundled with the generated client and openapi-fetch into one
// script (esbuild), beside the page and its style, in dist/. `npm run build` type-checks first.
import { copyFileSync, mkdirSync } from "node:fs";
import { build } from "esbuild";

const here = new URL(".", import.meta.url);
const dist = new URL("./dist/", here);
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: [new URL("./src/page.ts", here).pathname],
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: false,
  outfile: new URL("page.js", dist).pathname,
  logLevel: "warning",
});
for (const file of ["index.html", "style.css"]) copyFileSync(new URL(file, here), new URL(file, dist));
console.log(`built ${dist.pathname}`);
