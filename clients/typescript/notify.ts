// A notify call typed by pcx.d.ts (openapi-typescript from api/openapi.yaml). make test checks
// it with tsc --strict; bad-notify.ts, the same call with a wrong body, must fail to compile.
import type { components, operations } from "./pcx";

type NotifyBody = operations["notify"]["requestBody"]["content"]["application/json"];
type Accepted = components["schemas"]["AcceptedEnvelope"];

export async function notify(base: string, apiKey: string, body: NotifyBody): Promise<Accepted> {
  const res = await fetch(`${base}/public/webhooks/notify`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-API-Key": apiKey },
    body: JSON.stringify(body),
  });
  if (res.status !== 202) {
    const err = (await res.json()) as components["schemas"]["ErrorEnvelope"];
    throw new Error(`notify: ${res.status} ${err.code}: ${err.message}`);
  }
  return (await res.json()) as Accepted;
}

// A real payload, nested and typed, satisfies transaction_data.
export const example: NotifyBody = {
  org_id: "dev-org",
  event_type: "transaction.settled",
  transaction_data: { id: "tx_1", amount: 1250, currency: "EUR", lines: [{ sku: "a", qty: 2 }] },
};

export async function eventID(): Promise<string> {
  const accepted = await notify("http://localhost:8080", "pcx_example_key", example);
  return accepted.data.event_id;
}
