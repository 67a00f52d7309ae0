// Encrypts a customer's PIN for paybridge's Store API (SPEC §8.3), in the buyer's browser
// (or Node 20+): a JWE compact serialization with alg ECDH-ES (direct key agreement),
// enc A256GCM, the key's kid in the protected header, the six ASCII digits as plaintext.
// Browsers have no JWE built in, so this is WebCrypto step by step:
//   1. an ephemeral P-256 key pair, ECDH with the published key → Z (32 bytes);
//   2. the Concat KDF of RFC 7518 §4.6.2 → the AES-256 key:
//      SHA-256( 00000001 ‖ Z ‖ len‖"A256GCM" ‖ len‖PartyUInfo ‖ len‖PartyVInfo ‖ 00000100 ),
//      lengths as 32-bit big-endian, PartyUInfo and PartyVInfo empty;
//   3. AES-GCM with a random 96-bit IV and the base64url protected header as additional
//      data; the 16-byte tag is the last part.
// Usage: const { jwk } = <GET /api/v2/pin/public-key, via your server>;
//        const encryptedPin = await encryptPin(jwk, "917364");

const utf8 = new TextEncoder();

const b64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

const be32 = (n) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

export async function encryptPin(jwk, pin) {
  const subtle = globalThis.crypto.subtle;
  const curve = { name: "ECDH", namedCurve: "P-256" };
  const recipient = await subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, curve, false, []);
  const ephemeral = await subtle.generateKey(curve, true, ["deriveBits"]);
  const z = new Uint8Array(await subtle.deriveBits({ name: "ECDH", public: recipient }, ephemeral.privateKey, 256));
  const enc = utf8.encode("A256GCM");
  const kdfInput = concat(be32(1), z, be32(enc.length), enc, be32(0), be32(0), be32(256));
  const cek = await subtle.importKey("raw", await subtle.digest("SHA-256", kdfInput), "AES-GCM", false, ["encrypt"]);
  z.fill(0);
  const epk = await subtle.exportKey("jwk", ephemeral.publicKey);
  const header = b64url(
    utf8.encode(
      JSON.stringify({ alg: "ECDH-ES", enc: "A256GCM", kid: jwk.kid, epk: { kty: "EC", crv: "P-256", x: epk.x, y: epk.y } }),
    ),
  );
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(
    await subtle.encrypt({ name: "AES-GCM", iv, additionalData: utf8.encode(header), tagLength: 128 }, cek, utf8.encode(pin)),
  );
  return [header, "", b64url(iv), b64url(sealed.slice(0, -16)), b64url(sealed.slice(-16))].join(".");
}
