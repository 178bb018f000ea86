import assert from "node:assert/strict";
import { latencyHistogramSvg, latencyOverTimeSvg } from "./svg.ts";

function wellFormed(svg: string): void {
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^>]*>/);
  assert.match(svg, /<\/svg>\n$/);
  // Every opened element is closed (self-closing or paired), so the document parses as XML.
  const opened = [...svg.matchAll(/<([a-z]+)[^>]*?(\/?)>/g)].filter((m) => m[2] !== "/").map((m) =>
    m[1]
  );
  const closed = [...svg.matchAll(/<\/([a-z]+)>/g)].map((m) => m[1]);
  assert.deepEqual(opened.sort(), closed.sort());
  assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
}

Deno.test("latencyOverTimeSvg() draws one point per order and the mean", () => {
  const svg = latencyOverTimeSvg("1000 rows <constant> & 5 partitions", [{ x: 0, y: 10 }, {
    x: 1,
    y: 30,
  }, { x: 2, y: 20 }]);
  wellFormed(svg);
  assert.equal(svg.match(/<circle /g)?.length, 3);
  assert.match(svg, /mean 20.0 ms/);
  assert.match(svg, /&lt;constant&gt; &amp; 5/);
  wellFormed(latencyOverTimeSvg("empty", []));
});

Deno.test("latencyHistogramSvg() draws one bar per bucket", () => {
  const svg = latencyHistogramSvg("h", [1, 2, 2, 3, 50], 10);
  wellFormed(svg);
  assert.equal(svg.match(/<rect x=/g)?.length, 10);
  wellFormed(latencyHistogramSvg("empty", []));
});
