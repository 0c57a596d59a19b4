// A small CRM client written against the types openapi-typescript generates
// from the served OpenAPI document (./api.ts, made by the test; a .ts
// file, so skipLibCheck, which spares the DOM library, still checks it). It lists
// the unanswered conversations, opens the first one, reads its messages and
// replies. It must type-check under strict settings without a cast: if the
// document stops describing a shape precisely, tsc fails here.
import type { components, paths } from "./api";

type Schemas = components["schemas"];
type ListConversations = paths["/v1/conversations"]["get"];
type GetConversation = paths["/v1/conversations/{id}"]["get"];
type ListMessages = paths["/v1/conversations/{id}/messages"]["get"];
type Reply = paths["/v1/conversations/{id}/messages"]["post"];

type Query = Record<string, string | number | boolean | undefined>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Schemas["Error"],
  ) {
    super(`${status} ${body.error.code}: ${body.error.message}`);
  }
}

export class Client {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  private async call<T>(method: string, path: string, query: Query = {}, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const res = await fetch(url, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) {
      const err: Schemas["Error"] = await res.json();
      throw new ApiError(res.status, err);
    }
    const out: T = await res.json();
    return out;
  }

  listConversations(query: NonNullable<ListConversations["parameters"]["query"]>) {
    return this.call<ListConversations["responses"][200]["content"]["application/json"]>("GET", "/v1/conversations", query);
  }

  conversation(id: GetConversation["parameters"]["path"]["id"]) {
    return this.call<GetConversation["responses"][200]["content"]["application/json"]>("GET", `/v1/conversations/${encodeURIComponent(id)}`);
  }

  messages(id: string, query: NonNullable<ListMessages["parameters"]["query"]> = {}) {
    return this.call<ListMessages["responses"][200]["content"]["application/json"]>("GET", `/v1/conversations/${encodeURIComponent(id)}/messages`, query);
  }

  reply(id: string, body: Reply["requestBody"]["content"]["application/json"], idempotencyKey: string) {
    return this.call<Reply["responses"][202]["content"]["application/json"]>("POST", `/v1/conversations/${encodeURIComponent(id)}/messages`, {}, body, {
      "Idempotency-Key": idempotencyKey,
    });
  }
}

// What a message says, read from its type-specific content.
export function describe(m: Schemas["Message"]): string {
  const c = m.content;
  if (c === undefined) return m.text ?? "";
  switch (c.type) {
    case "text":
      return c.text?.body ?? "";
    case "location": {
      const lat: number | string | undefined = c.location?.latitude;
      const lng: number | string | undefined = c.location?.longitude;
      return `📍 ${lat}, ${lng}`;
    }
    case "reaction":
      return c.reaction?.emoji ?? "";
    case "image":
      return c.image?.caption ?? "[image]";
    default:
      return m.preview ?? `[${c.type}]`;
  }
}

export async function answerFirstUnanswered(client: Client, text: string): Promise<Schemas["Message"]> {
  const page = await client.listConversations({ unanswered: "all", owner: "me", windowOpen: true, limit: 20 });
  const first: Schemas["Conversation"] | undefined = page.items[0];
  if (first === undefined) throw new Error("nothing to answer");
  const next: string | undefined = page.cursor;
  void next;

  const conv = await client.conversation(first.id);
  const expires: string | undefined = conv.window.expiresAt;
  if (!conv.window.open) throw new Error(`window closed at ${expires}`);

  const msgs = await client.messages(conv.id, { limit: 50 });
  const lines: string[] = msgs.items.map((m) => `${m.direction === "in" ? conv.customer.name : m.sentBy}: ${describe(m)}`);
  void lines;

  // Exactly one of text and cannedResponseId, checked by the compiler.
  // @ts-expect-error both text and cannedResponseId
  const both: Reply["requestBody"]["content"]["application/json"] = { text, cannedResponseId: "cr_1" };
  // @ts-expect-error neither text nor cannedResponseId
  const neither: Reply["requestBody"]["content"]["application/json"] = {};
  void both;
  void neither;

  const queued = await client.reply(conv.id, { text }, `reply-${conv.id}-1`);
  const status: Schemas["MessageStatus"] = queued.status;
  void status;
  return queued;
}
