import assert from "node:assert/strict";
import { artifactOf } from "./spark_setup.ts";

Deno.test("artifactOf() drops the version of a jar's file name", async (t) => {
  for (
    const [file, want] of [
      ["spark-sql-kafka-0-10_2.13-4.2.0.jar", "spark-sql-kafka-0-10_2.13"],
      ["kafka-clients-3.9.2.jar", "kafka-clients"],
      ["commons-pool2-2.13.1.jar", "commons-pool2"],
      ["commons-pool-1.5.4.jar", "commons-pool"],
      ["zstd-jni-1.5.7-7.jar", "zstd-jni"],
      ["scala-library-2.13.18.jar", "scala-library"],
      ["py4j-0.10.9.9.jar\n", "py4j"],
    ] as const
  ) {
    await t.step(file.trim(), () => assert.equal(artifactOf(file), want));
  }
});
