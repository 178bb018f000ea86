/**
 * What a `SASL_SSL` local cluster needs (`startKafka({ secure: true })`): a certificate authority
 * and a broker certificate made with `openssl` for the data folder, a random password per user,
 * and the broker properties that use them.
 *
 * - Clients reach the brokers on `SASL_SSL` (TLS 1.2+, server certificate for `127.0.0.1` and
 *   `localhost` signed by the folder's CA) and log in with SCRAM-SHA-512 or SCRAM-SHA-256; the
 *   users are created at format time (`kafka-storage format --add-scram`), so there is no moment
 *   when the cluster runs without them.
 * - Brokers talk to each other on the same listener as user `broker`; the controller listener
 *   stays on 127.0.0.1 and asks for a SASL PLAIN login too (`broker`, from the properties file):
 *   KRaft cannot check SCRAM there (the credentials live in the metadata it serves).
 * - `org.apache.kafka.metadata.authorizer.StandardAuthorizer`: what no ACL allows is refused;
 *   `broker` and `admin` are super users. Despacho's own ACLs are set by `admin` through the
 *   clients' admin API (`lib/kafka/acls.ts`).
 *
 * Files are written with mode 0600; the folder is a local cache, never checked in.
 */
import { PRINCIPAL_ROLES } from "../lib/kafka/acls.ts";

/** The users of a secure local cluster: the brokers, the admin, one per role, the shop producer. */
export const SECURE_USERS = ["broker", "admin", ...PRINCIPAL_ROLES] as const;

/** One of {@linkcode SECURE_USERS}. */
export type SecureUser = typeof SECURE_USERS[number];

/** Where a secure cluster's certificates and passwords are. */
export interface SecureMaterial {
  /** The folder holding everything below. */
  dir: string;
  /** PEM of the certificate authority that signed the brokers' certificate. */
  caFile: string;
  /** Per user, the file holding its password (for `KAFKA_SASL_PASSWORD_FILE`). */
  passwordFiles: Record<SecureUser, string>;
  /** Per user, its password (kept in memory for the broker properties and tests). */
  passwords: Record<SecureUser, string>;
  /** The `--add-scram` arguments of the storage formatter (they hold passwords: see {@linkcode javaArgFile}). */
  scramArgs: string[];
  /** The broker's PKCS#12 key store and its password. */
  keystore: { file: string; password: string };
}

/**
 * Makes (or finds, when the folder has them already) the CA, the broker certificate and the
 * users' passwords.
 *
 * @param dir Folder for the files (created).
 * @param say Progress output.
 * @returns Where everything is.
 * @throws {Error} When `openssl` fails, with its output.
 */
export async function makeSecureMaterial(
  dir: string,
  say: (line: string) => void,
): Promise<SecureMaterial> {
  // Long on purpose: the openssl and keytool steps in the order each depends on the one before.
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = (name: string) => `${dir}/${name}`;
  const stored = file("passwords.json");
  let passwords: Record<SecureUser, string>;
  try {
    passwords = JSON.parse(await Deno.readTextFile(stored));
  } catch {
    passwords = Object.fromEntries(SECURE_USERS.map((u) => [u, randomSecret()])) as Record<
      SecureUser,
      string
    >;
    passwords.broker ??= randomSecret();
    await write(stored, JSON.stringify(passwords, null, 2));
  }
  const passwordFiles = {} as Record<SecureUser, string>;
  for (const user of SECURE_USERS) {
    passwords[user] ??= randomSecret();
    passwordFiles[user] = file(`${user}.password`);
    await write(passwordFiles[user], passwords[user] + "\n");
  }
  const keystore = { file: file("broker.p12"), password: passwords.broker };
  if (!await exists(keystore.file)) {
    say(`kafka: making a CA and a broker certificate in ${dir}`);
    await openssl([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "365",
      "-subj",
      "/CN=Despacho local Kafka CA",
      "-keyout",
      file("ca.key"),
      "-out",
      file("ca.pem"),
    ]);
    await openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=localhost",
      "-keyout",
      file("broker.key"),
      "-out",
      file("broker.csr"),
    ]);
    await write(file("broker.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    await openssl([
      "x509",
      "-req",
      "-days",
      "365",
      "-in",
      file("broker.csr"),
      "-CA",
      file("ca.pem"),
      "-CAkey",
      file("ca.key"),
      "-CAcreateserial",
      "-extfile",
      file("broker.ext"),
      "-out",
      file("broker.pem"),
    ]);
    await openssl([
      "pkcs12",
      "-export",
      "-name",
      "broker",
      "-in",
      file("broker.pem"),
      "-inkey",
      file("broker.key"),
      "-certfile",
      file("ca.pem"),
      "-passout",
      `file:${passwordFiles.broker}`,
      "-out",
      keystore.file,
    ]);
  }
  return {
    dir,
    caFile: file("ca.pem"),
    passwordFiles,
    passwords,
    keystore,
    scramArgs: SECURE_USERS.flatMap((u) =>
      ["SCRAM-SHA-512", "SCRAM-SHA-256"].flatMap((m) => [
        "--add-scram",
        `${m}=[name=${u},password=${passwords[u]}]`,
      ])
    ),
  };
}

/**
 * The listener, TLS, SASL and authorizer lines of one node's `server.properties`.
 *
 * @param m The cluster's material.
 * @param node The node's client and controller ports.
 * @returns Property lines.
 */
export function secureProperties(
  m: SecureMaterial,
  node: { port: number; controllerPort: number },
): string[] {
  const broker = m.passwords.broker;
  return [
    `listeners=SASL_SSL://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
    `advertised.listeners=SASL_SSL://127.0.0.1:${node.port}`,
    "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
    "inter.broker.listener.name=SASL_SSL",
    "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
    "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256",
    // Every enabled mechanism needs a login module; only the broker's own (512) has a user in it.
    "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
    `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="${broker}";`,
    "sasl.mechanism.controller.protocol=PLAIN",
    "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
    `listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="${broker}" user_broker="${broker}";`,
    "ssl.keystore.type=PKCS12",
    `ssl.keystore.location=${m.keystore.file}`,
    `ssl.keystore.password=${m.keystore.password}`,
    `ssl.key.password=${m.keystore.password}`,
    "ssl.truststore.type=PEM",
    `ssl.truststore.location=${m.caFile}`,
    "ssl.enabled.protocols=TLSv1.3,TLSv1.2",
    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "super.users=User:broker;User:admin",
    "allow.everyone.if.no.acl.found=false",
  ];
}

/**
 * Writes a Java launcher argument file (mode 0600) holding the main class and its arguments, so that
 * passwords among them are not on the command line, where any user of the machine could read them
 * while the process runs.
 *
 * @param path Where to write it.
 * @param args The main class, then its arguments.
 * @returns The launcher argument that reads it: `@<path>`.
 */
export async function javaArgFile(path: string, args: readonly string[]): Promise<string> {
  const quoted = args.map((a) => `"${a.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`);
  await write(path, quoted.join("\n") + "\n");
  return `@${path}`;
}

/** 24 random bytes, URL-safe base64: no character the properties or JAAS syntax would need to escape. */
function randomSecret(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))))
    .replaceAll("+", "-").replaceAll("/", "_");
}

async function write(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  await Deno.chmod(path, 0o600);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(
      `Cannot make the Kafka certificates with openssl ${args[0]}: exit code ${out.code}: ${
        new TextDecoder().decode(out.stderr).slice(-1000)
      }`,
    );
  }
}
