import assert from "node:assert/strict";
import { RecentlySent } from "./notification.ts";

Deno.test("RecentlySent remembers the last Message-IDs and forgets the oldest beyond its bound", () => {
  const sent = new RecentlySent(2);
  sent.add("<a.recibido@despacho.local>");
  sent.add("<a.preparando@despacho.local>");
  assert.equal(sent.has("<a.recibido@despacho.local>"), true);
  sent.add("<a.entregando@despacho.local>");
  assert.equal(sent.has("<a.recibido@despacho.local>"), false, "the oldest is forgotten");
  assert.equal(sent.has("<a.preparando@despacho.local>"), true);
  assert.equal(sent.has("<a.entregando@despacho.local>"), true);
});
