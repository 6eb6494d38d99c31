// Serves the built page (dist/) and passes /v1/ on to klageapi, so the page and the API share an
// origin (no CORS needed). KLAGEAPI_URL (default http://127.0.0.1:8000), PORT (default 8080),
// HOST (default 127.0.0.1).
import { createReadStream, existsSync } from "node:fs";
import http from "node:http";
import { extname } from "node:path";

const api = new URL(process.env.KLAGEAPI_URL ?? "http://127.0.0.1:8000");
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? "127.0.0.1";
const dist = new URL("./dist/", import.meta.url);
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8" };
const PAGE_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

function passOn(request, response) {
  const upstream = http.request(
    { host: api.hostname, port: api.port || 80, method: request.method, path: request.url, headers: { ...request.headers, host: api.host } },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    },
  );
  upstream.on("error", () => {
    response.writeHead(502, { "Content-Type": "text/plain" });
    response.end("klageapi is not reachable");
  });
  request.pipe(upstream);
}

const server = http.createServer((request, response) => {
  const path = new URL(request.url ?? "/", "http://page").pathname;
  if (path.startsWith("/v1/")) return passOn(request, response);
  const name = path === "/" ? "index.html" : path.slice(1);
  const file = new URL(name, dist);
  if (!/^[a-z]+\.(html|js|css)$/.test(name) || !existsSync(file)) {
    response.writeHead(404, { "Content-Type": "text/plain" });
    return response.end("not found");
  }
  response.writeHead(200, { "Content-Type": TYPES[extname(name)], ...PAGE_HEADERS });
  createReadStream(file).pipe(response);
});
server.listen(port, host, () => console.log(`citizen page on http://${host}:${server.address().port}/ (API ${api.href})`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
