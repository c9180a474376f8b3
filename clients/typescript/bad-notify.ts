// Must NOT compile (scripts/clients.sh asserts tsc rejects it): transaction_data is an object,
// org_id is required, and notify's body takes no other field.
import type { operations } from "./pcx";

type NotifyBody = operations["notify"]["requestBody"]["content"]["application/json"];

export const wrong: NotifyBody = { transaction_data: "not an object", amount: 5 };
