/**
 * Which store an `--index` value names. A folder path is today's folder index (lib/store/index-store.ts);
 * a Lance table (lib/store/lance-store.ts) is chosen by URI:
 *   lance:<path>            a local LanceDB database folder (created if missing)
 *   <path>.lance            the same, recognised by the suffix
 *   s3://bucket/prefix      Amazon S3 or an S3-compatible store
 *   gs://bucket/prefix      Google Cloud Storage
 *   az://container/prefix   Azure Blob Storage
 * (also written `lance:s3://...`). The database folder holds one table, `images` (IMAGES_TABLE), readable
 * by any LanceDB client: `lancedb.connect("<uri>").open_table("images")`.
 *
 * Object-store settings come from the environment (LanceDB "storage options", lower-cased keys):
 *   s3  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (or AWS_DEFAULT_REGION),
 *       AWS_ENDPOINT_URL (or AWS_ENDPOINT) for S3-compatible stores (MinIO, R2...), AWS_ALLOW_HTTP=true for
 *       a plain-http endpoint. Instance or container roles (no key in the environment) need
 *       CBIR_LANCE_INSTANCE_CREDENTIALS=1, or AWS_PROFILE / AWS_WEB_IDENTITY_TOKEN_FILE /
 *       AWS_CONTAINER_CREDENTIALS_FULL_URI / AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.
 *   gs  GOOGLE_SERVICE_ACCOUNT (or GOOGLE_APPLICATION_CREDENTIALS, a key file path), GOOGLE_SERVICE_ACCOUNT_KEY
 *       (the key's JSON); CBIR_LANCE_INSTANCE_CREDENTIALS=1 for the metadata server.
 *   az  AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_SAS_KEY, or a service
 *       principal (AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID); CBIR_LANCE_INSTANCE_CREDENTIALS=1
 *       for a managed identity.
 *   any CBIR_LANCE_STORAGE_OPTIONS: a JSON object of further storage options, e.g.
 *       {"timeout":"60s","client_max_retries":"5"} (its keys win over the variables above).
 * An object-store URI with no credentials at all is refused before any connection is tried (E_NO_CREDENTIALS):
 * otherwise the cloud SDKs would probe instance-metadata endpoints for seconds and fail with a long trace.
 */
import * as path from "node:path";
import { CbirError } from "../errors";

export const OBJECT_STORE_SCHEMES = ["s3", "gs", "az"] as const;
export type ObjectStoreScheme = (typeof OBJECT_STORE_SCHEMES)[number];

export const IMAGES_TABLE = "images";
export const STORAGE_OPTIONS_ENV = "CBIR_LANCE_STORAGE_OPTIONS";
export const INSTANCE_CREDENTIALS_ENV = "CBIR_LANCE_INSTANCE_CREDENTIALS";

export type StoreUri =
  | { kind: "folder"; path: string; text: string }
  | {
      kind: "lance";
      /** What LanceDB connects to: an absolute local folder or the object-store URI. */
      uri: string;
      /** "file" for a local folder. */
      scheme: "file" | ObjectStoreScheme;
      /** As the user typed it, for messages. */
      text: string;
      storageOptions: Record<string, string>;
    };

/**
 * True when `text` names a Lance store rather than a folder index (any `scheme://` counts, so that an
 * unknown scheme is refused by parseStoreUri instead of being taken for a folder called "http:").
 */
export function isLanceUri(text: string): boolean {
  const t = text.trim();
  return t.startsWith("lance:") || /\.lance\/*$/i.test(t) || /^[a-z][a-z0-9+.-]*:\/\//i.test(t);
}

const BAD_URI_FIX = "give a folder, lance:<folder>, <folder>.lance, or s3://<bucket>/<prefix>, gs://<bucket>/<prefix>, az://<container>/<prefix>.";

/** Parses an `--index` value; a malformed Lance URI is refused with E_BAD_OPTION naming it. */
export function parseStoreUri(text: string, env: NodeJS.ProcessEnv = process.env): StoreUri {
  if (typeof text !== "string" || !text.trim()) throw new CbirError("E_BAD_URI", "the index is an empty string.", { fix: BAD_URI_FIX });
  if (!isLanceUri(text)) {
    // any other scheme (http://, file://...) is a typo for a store, not a folder called "http:"
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new CbirError("E_BAD_URI", `'${text}' is not a store this toolkit can open (unknown scheme).`, { file: text, fix: BAD_URI_FIX });
    return { kind: "folder", path: path.resolve(text), text };
  }
  const body = text.trim().startsWith("lance:") ? text.trim().slice("lance:".length) : text.trim();
  if (!body) throw new CbirError("E_BAD_URI", `'${text}' names no folder after 'lance:'.`, { file: text, fix: BAD_URI_FIX });
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(body);
  if (!m) return { kind: "lance", uri: path.resolve(body), scheme: "file", text, storageOptions: {} };
  const scheme = m[1].toLowerCase();
  if (!(OBJECT_STORE_SCHEMES as readonly string[]).includes(scheme))
    throw new CbirError("E_BAD_URI", `'${text}': unknown storage scheme '${m[1]}://'.`, { file: text, fix: BAD_URI_FIX });
  const [bucket, ...rest] = m[2].split("/");
  if (!bucket || !/^[a-z0-9][a-z0-9._-]*$/i.test(bucket) || rest.some((p, i) => p === "" && i < rest.length - 1) || rest.includes(".."))
    throw new CbirError("E_BAD_URI", `'${text}' is not a valid ${scheme}:// URI (bucket '${bucket}').`, { file: text, fix: `write ${scheme}://<bucket>/<prefix>.` });
  const s = scheme as ObjectStoreScheme;
  return { kind: "lance", uri: `${s}://${m[2].replace(/\/+$/, "")}`, scheme: s, text, storageOptions: storageOptionsFromEnv(s, env, text) };
}

const ENV_OPTIONS: Record<ObjectStoreScheme, [string, string][]> = {
  s3: [
    ["AWS_ACCESS_KEY_ID", "aws_access_key_id"],
    ["AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"],
    ["AWS_SESSION_TOKEN", "aws_session_token"],
    ["AWS_DEFAULT_REGION", "region"],
    ["AWS_REGION", "region"],
    ["AWS_ENDPOINT", "endpoint"],
    ["AWS_ENDPOINT_URL", "endpoint"],
    ["AWS_ALLOW_HTTP", "allow_http"],
  ],
  gs: [
    ["GOOGLE_APPLICATION_CREDENTIALS", "google_service_account"],
    ["GOOGLE_SERVICE_ACCOUNT", "google_service_account"],
    ["GOOGLE_SERVICE_ACCOUNT_KEY", "google_service_account_key"],
  ],
  az: [
    ["AZURE_STORAGE_ACCOUNT_NAME", "account_name"],
    ["AZURE_STORAGE_ACCOUNT_KEY", "account_key"],
    ["AZURE_STORAGE_SAS_KEY", "sas_key"],
    ["AZURE_CLIENT_ID", "client_id"],
    ["AZURE_CLIENT_SECRET", "client_secret"],
    ["AZURE_TENANT_ID", "tenant_id"],
  ],
};

/** Credential sources other than keys in the storage options, which the cloud SDK finds by itself. */
const AMBIENT_CREDENTIALS: Record<ObjectStoreScheme, string[]> = {
  s3: ["AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"],
  gs: [],
  az: [],
};

const CREDENTIAL_KEYS: Record<ObjectStoreScheme, string[]> = {
  s3: ["aws_access_key_id"],
  gs: ["google_service_account", "google_service_account_key", "service_account", "service_account_key"],
  az: ["account_key", "sas_key", "client_secret", "azure_storage_account_key", "azure_storage_sas_key"],
};

const CREDENTIAL_FIX: Record<ObjectStoreScheme, string> = {
  s3: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_REGION; AWS_ENDPOINT_URL for an S3-compatible store), or AWS_PROFILE",
  gs: "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file",
  az: "set AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (or AZURE_STORAGE_SAS_KEY)",
};

/** LanceDB storage options for an object-store URI, from the environment; E_NO_CREDENTIALS when there are none. */
export function storageOptionsFromEnv(scheme: ObjectStoreScheme, env: NodeJS.ProcessEnv, uriText: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, key] of ENV_OPTIONS[scheme]) if (env[name]) out[key] = String(env[name]);
  const extra = env[STORAGE_OPTIONS_ENV];
  if (extra) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(extra);
    } catch {
      parsed = undefined;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
      throw new CbirError("E_BAD_OPTION", `${STORAGE_OPTIONS_ENV} is not a JSON object of storage options.`, { fix: `write it as ${STORAGE_OPTIONS_ENV}='{"timeout":"60s"}'.` });
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) out[k.toLowerCase()] = String(v);
  }
  const hasKey = CREDENTIAL_KEYS[scheme].some((k) => out[k]) || AMBIENT_CREDENTIALS[scheme].some((n) => env[n]) || isTrue(env[INSTANCE_CREDENTIALS_ENV]) || isTrue(out.aws_skip_signature ?? out.skip_signature);
  if (!hasKey)
    throw new CbirError("E_NO_CREDENTIALS", `no credentials for '${uriText}' in the environment.`, {
      file: uriText,
      fix: `${CREDENTIAL_FIX[scheme]}; on a machine with an instance role set ${INSTANCE_CREDENTIALS_ENV}=1.`,
    });
  return out;
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes)$/i.test(v);
}
