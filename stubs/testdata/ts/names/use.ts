// use.ts is compiled with the TypeScript generated from the adversarial
// schema under names/ (stubs/typescript_test.go): it fails to typecheck
// where a schema name has taken the place of a global or a member.
import * as $parley from "./parley";
import * as adv from "./adv/v1/adversarial.parley";
import type * as pa from "./pa/common.parley";

// Timestamp and bytes fields keep the global Date and Uint8Array, even
// next to messages named Date and Uint8Array.
const p: adv.Promise_ = { when: new Date(0), data: new Uint8Array(1), date: {}, u8: {}, list: [1, null] };
const when: globalThis.Date = p.when!;
const data: globalThis.Uint8Array = p.data!;

// Maps keep their key types.
const maps: adv.Maps = {
  i32: new Map([[-1, "a"]]),
  i64: new Map([[2 ** 40, { a: { x: 1 } }]]),
  flags: new Map([[true, {}]]),
  by_name: { k: { self: {} } },
};
const flag: boolean | undefined = [...maps.flags!.keys()][0];
const inner: pa.M | undefined = maps.i64!.get(2 ** 40)?.a;

// The client is not thenable, and its methods do not replace the
// constructor, transport or Object.prototype's members.
async function use(c: adv.AdvClient_): Promise<void> {
  const same: adv.AdvClient_ = await Promise.resolve(c);
  const s: string = same.toString();
  const t: $parley.Transport = same.transport;
  const m: adv.M = await c.constructor_({ a: { x: 1 }, b: { y: "" } });
  const h: adv.Holder = await c.hold({ maps });
  for await (const u of c.watch({})) u satisfies adv.Uint8Array_;
  const call = c.talk();
  await call.send(maps);
  for await (const r of call) r.flags?.get(false);
  void [s, t, m, h, when, data, flag, inner];
}
void use(new adv.AdvClient_());
