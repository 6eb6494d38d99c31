// A reference page for citizens, on the generated client alone: one citizen's appeals as the
// public review asked for them (the steps done, the one now, the ones ahead, when to expect an
// answer) and the tasks open now, which the page carries out. Not a product: what a frontend
// team would start from.
import createClient, { type Middleware } from "openapi-fetch";

import type { components, paths } from "../../typescript/generated/klageapi.js";
import { LANGUAGES, type Language, type Words, isLanguage, words } from "./words.js";

type Appeal = components["schemas"]["CitizenAppealRead"];
type Action = components["schemas"]["ActionRead"];
type DocumentRead = components["schemas"]["CitizenDocumentRead"];

const TOKEN_KEY = "klageapi-citizen-token";

/** The citizen's token: from the address's fragment (#token=…, then removed from the address
 * bar), else from this tab's session storage. */
function token(): string | null {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function chosenLanguage(): Language {
  const asked = new URLSearchParams(location.search).get("lang");
  if (isLanguage(asked)) return asked;
  const browser = navigator.language.toLowerCase();
  if (browser.startsWith("nn")) return "nn";
  if (browser.startsWith("en")) return "en";
  return "nb";
}

function client(bearer: string, language: Language) {
  const api = createClient<paths>({ baseUrl: location.origin });
  const auth: Middleware = {
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${bearer}`);
      request.headers.set("Accept-Language", language);
      return request;
    },
  };
  api.use(auth);
  return api;
}

type Api = ReturnType<typeof client>;

/** A small element builder: tag, attributes, children (strings become text, never HTML). */
function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: (Node | string | null)[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) if (child !== null) element.append(child);
  return element;
}

function formatDate(iso: string, language: Language): string {
  const locale = language === "en" ? "en-GB" : language === "nn" ? "nn-NO" : "nb-NO";
  return new Date(`${iso}T12:00:00Z`).toLocaleDateString(locale, {
    day: "numeric",
    month: "long",
    year: "numeric",
  });
}

function languageSwitch(current: Language, w: Words): HTMLElement {
  const list = el("ul", { class: "languages" });
  for (const language of LANGUAGES) {
    const link = el(
      "a",
      { href: `?lang=${language}`, lang: language, hreflang: language },
      words(language).languageName,
    );
    if (language === current) link.setAttribute("aria-current", "true");
    list.append(el("li", {}, link));
  }
  return el("nav", { "aria-label": w.chooseLanguage }, list);
}

function steps(appeal: Appeal, w: Words, language: Language): HTMLElement {
  const list = el("ol", { class: "steps" });
  for (const step of appeal.done) {
    const when = step.on ? ` ${formatDate(step.on, language)}` : "";
    list.append(
      el("li", { class: "step done" }, el("span", { class: "mark" }, `${w.done}:`), ` ${step.title}${when}`),
    );
  }
  if (appeal.now.step) {
    const current = el(
      "li",
      { class: "step now", "aria-current": "step" },
      el("span", { class: "mark" }, `${w.now}:`),
      ` ${appeal.now.description} (${w.since} ${formatDate(appeal.now.since, language)})`,
    );
    list.append(current);
  }
  for (const step of appeal.ahead) {
    list.append(el("li", { class: "step ahead" }, el("span", { class: "mark" }, `${w.ahead}:`), ` ${step.title}`));
  }
  return el("section", { "aria-labelledby": `steps-${appeal.id}` },
    el("h3", { id: `steps-${appeal.id}` }, w.steps), list);
}

function status(message: string, ok: boolean): HTMLElement {
  return el("p", { class: ok ? "result ok" : "result error", role: "status" }, message);
}

/** One open task as a form that carries it out, then reloads the appeals. */
function task(api: Api, appeal: Appeal, action: Action, w: Words, language: Language, reload: () => void): HTMLElement {
  const id = `${action.action}-${appeal.id}-${action.documentation_request_id ?? ""}`;
  const box = el("li", { class: "task" });
  box.append(el("p", {}, action.text));
  if (action.due_on) {
    box.append(el("p", { class: "deadline" }, `${w.deadline}: ${formatDate(action.due_on, language)}`));
  }
  const form = el("form", { "aria-label": action.text });
  const result = el("div", { "aria-live": "polite" });
  const done = (ok: boolean) => {
    result.replaceChildren(status(ok ? w.sent : w.sendFailed, ok));
    if (ok) setTimeout(reload, 600);
  };
  const path = { appeal_id: appeal.id };
  if (action.action === "comment") {
    const text = el("textarea", { id: `${id}-text`, name: "text", rows: "4", required: "" });
    form.append(el("label", { for: `${id}-text` }, w.comment), text, el("button", { type: "submit" }, w.sendComment));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { response } = await api.POST("/v1/me/appeals/{appeal_id}/comments", {
        params: { path, header: { "idempotency-key": crypto.randomUUID() } },
        body: { text: text.value },
      });
      done(response.ok);
    });
  } else if (action.action === "send_documentation" || action.action === "send_documents") {
    const file = el("input", { id: `${id}-file`, type: "file", name: "file", accept: "application/pdf,image/jpeg,image/png", required: "" });
    const title = el("input", { id: `${id}-title`, type: "text", name: "title", required: "", autocomplete: "off" });
    form.append(
      el("label", { for: `${id}-title` }, w.fileTitle), title,
      el("label", { for: `${id}-file` }, w.file), file,
      el("button", { type: "submit" }, w.sendFile),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const chosen = file.files?.[0];
      if (!chosen) return;
      const headers = { "Content-Type": chosen.type };
      const request = action.documentation_request_id;
      const { response } = request
        ? await api.POST("/v1/me/appeals/{appeal_id}/documentation-requests/{request_id}/documents", {
            params: { path: { ...path, request_id: request }, query: { title: title.value, file_name: chosen.name } },
            body: chosen,
            bodySerializer: (body) => body,
            headers,
          })
        : await api.POST("/v1/me/appeals/{appeal_id}/documents", {
            // The sender's own id: sending the same file again is the same document.
            params: { path, query: { title: title.value, file_name: chosen.name, sender_reference: crypto.randomUUID() } },
            body: chosen,
            bodySerializer: (body) => body,
            headers,
          });
      done(response.ok);
    });
  } else if (action.action === "withdraw") {
    const ask = el("button", { type: "button", class: "secondary" }, w.withdraw);
    const confirm = el("div", { class: "confirm", hidden: "" },
      el("p", {}, w.reallyWithdraw),
      el("button", { type: "submit", class: "danger" }, w.confirmWithdraw),
      el("button", { type: "button", class: "secondary" }, w.cancel));
    const [, , cancel] = confirm.children;
    ask.addEventListener("click", () => { confirm.hidden = false; ask.hidden = true; });
    cancel?.addEventListener("click", () => { confirm.hidden = true; ask.hidden = false; });
    form.append(ask, confirm);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { response } = await api.POST("/v1/me/appeals/{appeal_id}/withdrawal", {
        params: { path, header: { "idempotency-key": crypto.randomUUID() } },
      });
      done(response.ok);
    });
  }
  box.append(form, result);
  return box;
}

async function downloadDocument(api: Api, appeal: Appeal, document_: DocumentRead): Promise<void> {
  const { data } = await api.GET("/v1/me/appeals/{appeal_id}/documents/{document_id}/content", {
    params: { path: { appeal_id: appeal.id, document_id: document_.id } },
    parseAs: "blob",
  });
  if (!data) return;
  const url = URL.createObjectURL(data as Blob);
  const link = el("a", { href: url, download: document_.title });
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function documents(api: Api, appeal: Appeal, w: Words, language: Language): Promise<HTMLElement> {
  const section = el("section", { "aria-labelledby": `documents-${appeal.id}` },
    el("h3", { id: `documents-${appeal.id}` }, w.documents));
  const { data } = await api.GET("/v1/me/appeals/{appeal_id}/documents", {
    params: { path: { appeal_id: appeal.id } },
  });
  const list = el("ul", { class: "documents" });
  for (const document_ of data?.items ?? []) {
    const button = el("button", { type: "button", class: "link" }, `${w.download}: ${document_.title}`);
    button.addEventListener("click", () => void downloadDocument(api, appeal, document_));
    const mine = document_.sent_by_you ? ` (${w.mine})` : "";
    list.append(el("li", {}, button, ` ${formatDate(document_.uploaded_at.slice(0, 10), language)}${mine}`));
  }
  section.append(list.children.length ? list : el("p", {}, w.noDocuments));
  return section;
}

async function appealCard(api: Api, appeal: Appeal, w: Words, language: Language, reload: () => void): Promise<HTMLElement> {
  const card = el("article", { class: "appeal", "aria-labelledby": `title-${appeal.id}` });
  card.append(
    el("h2", { id: `title-${appeal.id}` },
      el("span", { class: "kicker" }, appeal.title), ` ${appeal.decision.reference}`),
    el("p", { class: "about" }, appeal.decision.about),
  );
  if (appeal.late) card.append(el("div", { class: "notice" }, el("strong", {}, w.late), el("p", {}, appeal.late)));
  card.append(
    el("p", { class: "now" }, appeal.now.who_has_the_case, appeal.now.outcome ? ` ${appeal.now.outcome}` : ""),
    steps(appeal, w, language),
  );
  if (appeal.expected_decision) {
    card.append(el("section", { "aria-labelledby": `window-${appeal.id}` },
      el("h3", { id: `window-${appeal.id}` }, w.window),
      el("p", {}, appeal.expected_decision.explanation)));
  }
  if (appeal.after_decision) {
    card.append(el("section", { "aria-labelledby": `after-${appeal.id}` },
      el("h3", { id: `after-${appeal.id}` }, w.afterDecision),
      el("p", {}, appeal.after_decision)));
  }
  const tasks = el("section", { "aria-labelledby": `tasks-${appeal.id}`, class: "tasks" },
    el("h3", { id: `tasks-${appeal.id}` }, w.tasks));
  if (appeal.you_can.length === 0) tasks.append(el("p", {}, w.noTasks));
  else tasks.append(el("ul", {}, ...appeal.you_can.map((a) => task(api, appeal, a, w, language, reload))));
  card.append(tasks, await documents(api, appeal, w, language));
  return card;
}

async function render(): Promise<void> {
  const language = chosenLanguage();
  const w = words(language);
  document.documentElement.lang = language;
  document.title = w.heading;
  const header = document.querySelector("header") as HTMLElement;
  const main = document.querySelector("main") as HTMLElement;
  header.replaceChildren(el("h1", {}, w.heading), languageSwitch(language, w));
  const bearer = token();
  if (!bearer) {
    main.replaceChildren(el("p", { class: "result error" }, w.tokenMissing));
    return;
  }
  main.replaceChildren(el("p", { "aria-live": "polite" }, w.loading));
  const api = client(bearer, language);
  const reload = () => void render();
  const { data, response } = await api.GET("/v1/me/appeals", { params: { query: { limit: 20 } } });
  if (!data) {
    main.replaceChildren(status(w.failed, false));
    return;
  }
  // The API says which language it answered in; the page speaks the same.
  document.documentElement.lang = response.headers.get("Content-Language") ?? language;
  const cards = await Promise.all(data.items.map((appeal) => appealCard(api, appeal, w, language, reload)));
  main.replaceChildren(el("p", { class: "intro" }, w.intro), ...(cards.length ? cards : [el("p", {}, w.none)]));
  document.body.dataset["ready"] = "true";
}

void render();
