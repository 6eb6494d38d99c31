// One appeal from NAV to the Statsforvalter and back, with openapi-fetch and the types that
// openapi-typescript generated from openapi/openapi.json, against a running klageapi.
//
// clients/serve_and_run.py gives it the service and the tokens in KLAGEAPI_BASE_URL,
// KLAGEAPI_NAV_TOKEN, KLAGEAPI_SF_TOKEN, KLAGEAPI_CITIZEN_TOKEN and KLAGEAPI_CITIZEN_NATIONAL_ID.
// Every step checks its answer; the first unexpected one stops the scenario with exit status 1.

import { createHash, randomUUID } from "node:crypto";
import createClient, { type Client } from "openapi-fetch";
import type { components, operations, paths } from "../generated/klageapi.js";

type Schemas = components["schemas"];
type DocumentRead = Schemas["DocumentRead"];
type DocumentCategory = Schemas["DocumentCategory"];
type Api = Client<paths>;

const NAV_OFFICE = "1103"; // NAV Stavanger in the demo registry; its municipality is Stavanger, 1103
const SF_OFFICE = "sf-rogaland"; // where county 11 is routed

class ScenarioFailed extends Error {}

function environment(name: string): string {
  const value = process.env[name];
  if (!value) throw new ScenarioFailed(`${name} is not set`);
  return value;
}

/** The body of an answer with `status`; a problem document or any other status fails. */
function expect<T>(
  step: string,
  result: { data?: T; error?: unknown; response: Response },
  status: number,
): T {
  const { data, error, response } = result;
  if (response.status !== status || data === undefined) {
    throw new ScenarioFailed(
      `${step}: expected ${status}, got ${response.status}: ${JSON.stringify(error ?? data)}`,
    );
  }
  console.log(`   ${step}: ${response.status}`);
  return data;
}

/** The header names the contract declares for an operation's answer with `status`, without the
 * open index signature openapi-typescript adds. */
type Declared<O extends keyof operations, S extends keyof operations[O]["responses"]> =
  operations[O]["responses"][S] extends { headers: infer H }
    ? Extract<keyof { [K in keyof H as string extends K ? never : K]: H[K] }, string>
    : never;

/** A header of an answer, by a name the contract declares for that operation and status: a
 * header the contract does not declare there does not compile. */
function header<O extends keyof operations, S extends keyof operations[O]["responses"]>(
  step: string,
  result: { response: Response },
  _operation: O,
  _status: S,
  name: Declared<O, S>,
): string {
  const value = result.response.headers.get(name);
  if (value === null) throw new ScenarioFailed(`${step}: no ${name} header`);
  return value;
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new ScenarioFailed(message);
}

function isoDate(daysAgo: number): string {
  return new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A small file that passes the service's PDF sniffing (it starts with %PDF-). */
function pdf(text: string): Uint8Array {
  const head = new TextEncoder().encode(`%PDF-1.7\n% ${text}\n`);
  const noise = new Uint8Array(256).map(() => Math.floor(Math.random() * 256));
  const tail = new TextEncoder().encode("\n%%EOF\n");
  return new Uint8Array([...head, ...noise, ...tail]);
}

async function upload(
  api: Api,
  appealId: string,
  category: DocumentCategory,
  data: Uint8Array,
): Promise<DocumentRead> {
  const digest = createHash("sha256").update(data).digest("base64");
  const uploaded = await api.POST("/v1/appeals/{appeal_id}/documents", {
      params: {
        path: { appeal_id: appealId },
        query: { category, title: category, file_name: `${category}.pdf` },
        header: { "content-digest": `sha-256=:${digest}:` },
      },
      // The body is the file itself, sent as it is: not JSON.
      body: new Blob([data], { type: "application/pdf" }),
      bodySerializer: (body) => body,
      headers: { "Content-Type": "application/pdf" },
    });
  const document = expect(`upload ${category}`, uploaded, 201);
  check(
    header(`upload ${category}`, uploaded, "upload_document", 201, "Location") ===
      `/v1/documents/${document.id}/content`,
    `upload ${category}: Location is not the document's content`,
  );
  check(
    document.sha256 === sha256(data) && document.size === data.length,
    `upload ${category}: the service stored other bytes than were sent`,
  );
  return document;
}

/** The ZIP carries manifest.json and every document byte for byte (documents are stored, not
 * compressed, so each one's bytes appear whole). */
function checkBundle(bundle: Uint8Array, sent: Uint8Array[]): void {
  const zip = Buffer.from(bundle);
  check(zip.subarray(0, 4).equals(Buffer.from("PK\x03\x04", "latin1")), "bundle: not a ZIP");
  check(zip.includes("manifest.json"), "bundle: no manifest.json");
  for (const data of sent) {
    check(zip.includes(Buffer.from(data)), `bundle: a document (${sha256(data)}) is missing`);
  }
  console.log(`   bundle: ${bundle.length} bytes, manifest.json and every document in it`);
}

async function run(): Promise<void> {
  const baseUrl = environment("KLAGEAPI_BASE_URL");
  const client = (token: string): Api =>
    createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
  const nav = client(environment("KLAGEAPI_NAV_TOKEN"));
  const sf = client(environment("KLAGEAPI_SF_TOKEN"));
  const citizen = client(environment("KLAGEAPI_CITIZEN_TOKEN"));
  const reference = `TS-${randomUUID().slice(0, 12)}`;

  console.log("NAV Stavanger registers the appeal, reviews it and forwards it");
  const registered = await nav.POST("/v1/appeals", {
      params: { header: { "idempotency-key": `register-${reference}` } },
      body: {
        nav_office_unit_number: NAV_OFFICE,
        municipality_number: NAV_OFFICE,
        national_id: environment("KLAGEAPI_CITIZEN_NATIONAL_ID"),
        decision: {
          reference: `VEDTAK-${reference}`,
          decided_on: isoDate(20),
          notified_on: isoDate(19),
          legal_basis: "economic_assistance",
        },
        received_on: isoDate(5),
        channel: "digital",
        grounds: "Jeg mener vedtaket er feil.",
        external_reference: reference,
      },
    });
  const appeal = expect("register", registered, 201);
  check(
    header("register", registered, "register_appeal", 201, "Location") === `/v1/appeals/${appeal.id}`,
    "register: Location is not the appeal's",
  );
  check(header("register", registered, "register_appeal", 201, "ETag") === '"1"', 'register: ETag is not "1"');
  check(
    appeal.statsforvalter_office_id === SF_OFFICE && appeal.status === "received",
    `register: routed to ${appeal.statsforvalter_office_id}, ${appeal.status}`,
  );
  const appealPath = { path: { appeal_id: appeal.id } };
  expect("nav-review", await nav.POST("/v1/appeals/{appeal_id}/nav-review", { params: appealPath }), 200);
  const sent: Uint8Array[] = [];
  for (const category of ["appeal", "decision", "forwarding_letter", "application"] as const) {
    const data = pdf(`${category} for ${reference}`);
    sent.push(data);
    await upload(nav, appeal.id, category, data);
  }
  const current = await nav.GET("/v1/appeals/{appeal_id}", { params: appealPath });
  expect("read for its ETag", current, 200);
  expect(
    "nav-outcome upheld",
    await nav.POST("/v1/appeals/{appeal_id}/nav-outcome", {
      params: {
        ...appealPath,
        header: { "if-match": header("read for its ETag", current, "get_appeal", 200, "ETag") },
      },
      body: { outcome: "upheld", decided_on: isoDate(0), reasoning: "Vilkårene er ikke oppfylt." },
    }),
    200,
  );
  const forwarding = await nav.POST("/v1/appeals/{appeal_id}/packages", { params: appealPath });
  const forwarded = expect("forward", forwarding, 201);
  check(
    header("forward", forwarding, "forward_appeal", 201, "Location") === `/v1/packages/${forwarded.id}`,
    "forward: Location is not the package's",
  );

  console.log("Statsforvalteren i Rogaland pulls the package, acknowledges it and decides");
  const feed = expect(
    "pull feed",
    await sf.GET("/v1/packages", { params: { query: { status: "awaiting_receipt", limit: 500 } } }),
    200,
  );
  check(
    feed.items.some((item) => item.id === forwarded.id),
    "pull feed: the forwarded package is not in it",
  );
  const packagePath = { path: { package_id: forwarded.id } };
  const manifest = expect("manifest", await sf.GET("/v1/packages/{package_id}", { params: packagePath }), 200);
  check(manifest.manifest["package_id"] === forwarded.id, "manifest: another package's");
  const bundle = expect(
    "bundle",
    await sf.GET("/v1/packages/{package_id}/bundle", { params: packagePath, parseAs: "arrayBuffer" }),
    200,
  );
  checkBundle(new Uint8Array(bundle), sent);
  const received = expect(
    "receipt",
    await sf.POST("/v1/packages/{package_id}/receipt", {
      params: packagePath,
      body: { statsforvalter_case_number: `2026/${reference}` },
    }),
    200,
  );
  check(received.status === "received", `receipt: the package is ${received.status}`);
  expect(
    "statsforvalter-review",
    await sf.POST("/v1/appeals/{appeal_id}/statsforvalter-review", { params: appealPath }),
    200,
  );
  const decision = await upload(sf, appeal.id, "statsforvalter_decision", pdf(`vedtak ${reference}`));
  const beforeDecision = await sf.GET("/v1/appeals/{appeal_id}", { params: appealPath });
  expect("read for its ETag", beforeDecision, 200);
  const decided = expect(
    "decision upheld",
    await sf.POST("/v1/appeals/{appeal_id}/decision", {
      params: {
        ...appealPath,
        header: { "if-match": header("read for its ETag", beforeDecision, "get_appeal", 200, "ETag") },
      },
      body: { outcome: "upheld", decided_on: isoDate(0), document_id: decision.id },
    }),
    200,
  );
  check(decided.status === "decided", `decision: the appeal is ${decided.status}`);

  console.log("The citizen reads the status");
  const mine = expect(
    "GET /v1/me/appeals",
    await citizen.GET("/v1/me/appeals", { params: { header: { "accept-language": "en" } } }),
    200,
  );
  const [only, ...others] = mine.items;
  check(only?.id === appeal.id && others.length === 0, `/v1/me/appeals: not only ${appeal.id}`);
  const now = only!.now;
  check(now.status === "decided", `/v1/me/appeals: the citizen sees ${now.status}, not decided`);
  console.log(`   the citizen sees: ${now.status}, "${now.description}", outcome: ${now.outcome}`);
}

try {
  await run();
  console.log("TypeScript scenario: the appeal went from NAV to the Statsforvalter, and was decided");
} catch (failure) {
  console.error(`FAILED: ${failure instanceof Error ? failure.message : String(failure)}`);
  process.exitCode = 1;
}
