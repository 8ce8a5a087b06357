// A Doorstep client that is not ours: written from docs/PROTOCOL.md and docs/LAYOUT.md alone,
// with the JavaScript Automerge, to show that a stranger can record a household the server
// accepts. The end-to-end test `foreign_client` (tests/tests/e2e/foreign_client.rs) runs it.
//
//   node foreign_client.mjs <server URL> <enrollment code>
//
// It enrolls (PROTOCOL.md, Enrollment), then records two households in its first village:
//
// - `good`, as LAYOUT.md says: two members with ID numbers (member keys from the recipe),
//   fields of every Automerge type, and a visit whose finish is
//   sent in a second round trip with getChangesSince;
// - `bad`, the mistake the JavaScript binding invites: `household.address` written as a
//   plain JavaScript string, which becomes a Text object.
//
// It prints one JSON object on stdout: what it wrote and what the server answered.

import * as Automerge from "@automerge/automerge";
import { blake3 } from "@noble/hashes/blake3.js";
import { bytesToHex, hexToBytes, randomBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import * as cbor from "cborg";
import { randomUUID } from "node:crypto";
import zlib from "node:zlib";

const [server, code] = process.argv.slice(2);
if (!server || !code) {
  console.error("usage: node foreign_client.mjs <server URL> <enrollment code>");
  process.exit(2);
}

// ─── The wire (PROTOCOL.md, Transport) ───────────────────────────────────────────────────

/**
 * CBOR, then one Brotli stream, behind the first 8 bytes of the CBOR's BLAKE3 hash. cborg
 * writes plain RFC 8949: text-keyed maps, byte strings for Uint8Array, null for null.
 */
function frame(message) {
  const encoded = cbor.encode(message);
  const checksum = blake3(encoded).slice(0, 8);
  return Buffer.concat([checksum, zlib.brotliCompressSync(encoded)]);
}

function unframe(body) {
  const encoded = zlib.brotliDecompressSync(body.subarray(8));
  const checksum = Buffer.from(blake3(encoded).slice(0, 8));
  if (!checksum.equals(body.subarray(0, 8))) {
    throw new Error("the response's checksum does not match");
  }
  return cbor.decode(encoded);
}

async function sync(token, request) {
  const response = await fetch(`${server}/api/v1/sync`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/vnd.doorstep.sync+cbor",
    },
    body: frame(request),
  });
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) {
    throw new Error(`sync answered ${response.status}: ${body.toString()}`);
  }
  return unframe(body);
}

// ─── Enrollment (PROTOCOL.md, Enrollment) ────────────────────────────────────────────────

const actor = bytesToHex(randomBytes(16));
const deviceName = `外来客户端 ${randomUUID().slice(0, 8)}`;
const enrolled = await (async () => {
  const response = await fetch(`${server}/api/v1/enroll`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code, actor, device_name: deviceName }),
  });
  const answer = await response.json();
  if (response.status !== 200) {
    throw new Error(`enroll answered ${response.status}: ${JSON.stringify(answer)}`);
  }
  return answer;
})();
const village = enrolled.villages[0];
const secret = hexToBytes(enrolled.member_key_secret);

// ─── The layout (LAYOUT.md) ──────────────────────────────────────────────────────────────

/** A scalar string: a plain JavaScript string would become a Text object. */
const str = (text) => new Automerge.ImmutableString(text);
const seconds = () => Math.floor(Date.now() / 1000);
const newId = (bytes) => bytesToHex(randomBytes(bytes));

/** LAYOUT.md, The member key: keyed BLAKE3 of the 18-character ID number, 12 bytes in hex. */
function memberKey(idNumber) {
  return bytesToHex(blake3(utf8ToBytes(idNumber), { key: secret }).slice(0, 12));
}

/** The first change of a household (LAYOUT.md, Creating a household). */
function createHousehold(id, address) {
  const doc = Automerge.init({ actor });
  return Automerge.change(doc, { time: seconds() }, (d) => {
    d["schema_version"] = new Automerge.Uint(1);
    d["household.id"] = str(id);
    d["household.village"] = str(village);
    d["household.created_at"] = seconds();
    d["household.number"] = str(`NEW-${id.slice(0, 10).toUpperCase()}`);
    d["household.address"] = address;
    d[`actors.${actor}.device`] = str(deviceName);
    d[`actors.${actor}.volunteer`] = str(enrolled.volunteer);
  });
}

const head = { name: "王秀英", idNumber: "11010519491231002X" };
const headKey = memberKey(head.idNumber);
const son = { name: "王小明", idNumber: "110105198006150034" };
const sonKey = memberKey(son.idNumber);
const visit = newId(8);

const goodId = newId(16);
let good = createHousehold(goodId, str("上河村三组 7 号"));
good = Automerge.change(good, { time: seconds() }, (d) => {
  d["household.gps.lat"] = new Automerge.Float64(38);
  d["household.gps.lon"] = new Automerge.Float64(110.99);
  d["household.causes.01"] = true;
  d["household.causes.04"] = true;
  const m = `members.${headKey}`;
  d[`${m}.name`] = str(head.name);
  d[`${m}.id_number`] = str(head.idNumber);
  // The 17th character (2) is even: female. Born 1949-12-31, characters 7 to 14.
  d[`${m}.sex`] = str("2");
  d[`${m}.birth_date`] = str("1949-12-31");
  d[`${m}.relation`] = str("01");
  const s = `members.${sonKey}`;
  d[`${s}.name`] = str(son.name);
  d[`${s}.id_number`] = str(son.idNumber);
  // The 17th character (3) is odd: male.
  d[`${s}.sex`] = str("1");
  d[`${s}.birth_date`] = str("1980-06-15");
  d[`${s}.relation`] = str("03");
});
const visitMessage = `visit ${visit}`;
good = Automerge.change(good, { time: seconds(), message: visitMessage }, (d) => {
  d[`visits.${visit}.device`] = str(deviceName);
  d[`visits.${visit}.volunteer`] = str(enrolled.volunteer);
  d[`visits.${visit}.started_at`] = seconds();
});
good = Automerge.change(good, { time: seconds(), message: visitMessage }, (d) => {
  const m = `members.${sonKey}`;
  d[`${m}.employment.status`] = str("03");
  d[`${m}.employment.employer`] = str("临县建筑公司");
  d[`${m}.employment.place`] = str("临县城关镇");
  d[`${m}.employment.monthly_income`] = 3200;
  d[`${m}.employment.contract_signed`] = true;
});

// The mistake: a plain string, which this binding makes a Text object.
const badId = newId(16);
const bad = createHousehold(badId, "上河村三组 9 号");

// ─── Syncing (PROTOCOL.md, Request and Response) ─────────────────────────────────────────

const hexHeads = (heads) => heads.map((hash) => bytesToHex(hash));
const upload = (household, changes) => ({ household, changes });
const request = (uploads, cursor) => ({
  protocol: 2,
  actor,
  cursor,
  uploads,
  page_bytes: 256 * 1024,
});

const first = await sync(
  enrolled.device_token,
  request(
    [upload(goodId, Automerge.getAllChanges(good)), upload(badId, Automerge.getAllChanges(bad))],
    null,
  ),
);
const [goodOutcome, badOutcome] = first.results.map((result) => result.outcome);
if (goodOutcome.kind !== "accepted") {
  throw new Error(`the household was not accepted: ${JSON.stringify(goodOutcome)}`);
}

// The second round trip: only what the server has not confirmed, from its heads.
const confirmed = hexHeads(goodOutcome.heads);
good = Automerge.change(good, { time: seconds(), message: visitMessage }, (d) => {
  d[`visits.${visit}.finished_at`] = seconds();
  d[`visits.${visit}.outcome`] = str("met");
  d[`visits.${visit}.notes`] = str("户主在家，务工收入稳定");
  d[`visits.${visit}.gps.lat`] = new Automerge.Float64(37.95);
  d[`visits.${visit}.gps.lon`] = new Automerge.Float64(110.98);
});
const unconfirmed = Automerge.getChangesSince(good, confirmed);
const second = await sync(
  enrolled.device_token,
  request([upload(goodId, unconfirmed)], first.cursor),
);

const describe = (outcome) => ({
  kind: outcome.kind,
  heads: outcome.heads ? hexHeads(outcome.heads) : undefined,
  rule: outcome.rule,
  code: outcome.code,
  reason: outcome.reason,
});
console.log(
  JSON.stringify({
    actor,
    device: deviceName,
    volunteer: enrolled.volunteer,
    village,
    good: {
      household: goodId,
      head: headKey,
      son: sonKey,
      visit,
      heads: Automerge.getHeads(good),
      first: describe(goodOutcome),
      second: describe(second.results[0].outcome),
      second_upload_changes: unconfirmed.length,
    },
    bad: { household: badId, outcome: describe(badOutcome) },
  }),
);
