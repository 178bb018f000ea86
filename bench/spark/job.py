"""The second report's engine doing Despacho's purchase-analytics work, for the bench's comparison.

A Spark Structured Streaming job (pyspark 4.2, `local[2]`) that reads the purchase events topic
(JSON, as `lib/purchase.ts` defines them), classifies each event as the purchase-analytics role
does (visit: `taps` null or 0; short: under 30 minutes; long: 30 or more), and runs two queries on
the same broker:

- notifications: one record per purchase on the notifications topic, keyed by event id, shaped
  like the role's `PurchaseNotified` (`kind`, `to`, `subject`, the report's message text, `folio`,
  the source partition and offset, `at`);
- windows: tumbling event-time windows of `--window-ms` with a watermark `--lateness-ms` behind the
  largest event time seen, in append mode (a window is written once the watermark passes its
  end): events, purchases, visits without purchase, short and long purchases, the sum and mean of
  `taps`.

It prints one JSON line to stdout when both queries have started (`{"ready": ...}`) and one per
finished micro-batch (`{"progress": ...}`, with the sum of the source's end offsets), which is how
`bench/spark.ts` times it. It runs until it is sent SIGTERM or SIGINT.

Run by `bench/spark.ts` with the venv and connector jars of `bench/spark_setup.ts`; by hand:

    .cache/spark-venv/bin/python bench/spark/job.py --brokers 127.0.0.1:9092 \\
        --jars .cache/spark/4.2.0/jars --events purchase_events \\
        --notifications spark_notifications --windows spark_windows \\
        --checkpoints .cache/spark-checkpoints
"""

import argparse
import glob
import json
import os
import signal
import sys
import threading

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

LONG_PURCHASE_MINUTES = 30

# The fields of lib/purchase.ts's PurchaseSchema that this job reads.
EVENT_SCHEMA = (
    "v INT, type STRING, id STRING, nombre STRING, apellido STRING, edad INT, email STRING, "
    "telefono STRING, ubicacion STRUCT<direccion: STRING, ciudad: STRING, pais: STRING>, "
    "productovisto STRING, taps DOUBLE, folio STRING, ts STRING"
)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--brokers", required=True)
    p.add_argument("--jars", required=True, help="folder of the Kafka connector's jars")
    p.add_argument("--events", required=True, help="input topic")
    p.add_argument("--notifications", required=True, help="output topic, one record per purchase")
    p.add_argument("--windows", required=True, help="output topic, one record per closed window")
    p.add_argument("--checkpoints", required=True, help="folder for the queries' checkpoints")
    p.add_argument("--window-ms", type=int, default=10_000)
    p.add_argument("--lateness-ms", type=int, default=2_000)
    p.add_argument("--master", default="local[2]")
    p.add_argument("--shuffle-partitions", type=int, default=2)
    p.add_argument("--driver-memory", default="1g")
    p.add_argument(
        "--trigger-ms", type=int, default=0,
        help="micro-batch interval; 0 starts the next batch as soon as one ends (the report: 9000)",
    )
    p.add_argument(
        "--real-time-ms", type=int, default=0,
        help="run the notifications query in Spark 4's real-time mode with batches of this length "
        "(stateless queries only; 0: micro-batches like the windows query)",
    )
    return p.parse_args(argv)


def say(**fields):
    """One JSON line on stdout, flushed: the bench reads them as they come."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def session(args):
    jars = sorted(glob.glob(os.path.join(args.jars, "*.jar")))
    if not jars:
        raise SystemExit(f"Cannot start the Spark job: no jars in {args.jars}")
    return (
        SparkSession.builder.appName("despacho-purchase-analytics")
        .master(args.master)
        .config("spark.jars", ",".join(jars))
        .config("spark.driver.memory", args.driver_memory)
        # The report set 3 shuffle partitions for local[3]; Spark's default of 200 would make every
        # micro-batch of the window query run 200 tasks and keep 200 state stores on 2 cores.
        .config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Everything stays on the loopback interface, like the broker.
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def classified(spark, args):
    """The input topic parsed and classified; what the report's job filtered, in SQL only."""
    raw = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", args.brokers)
        .option("subscribe", args.events)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "false")
        .load()
    )
    e = F.col("e")
    parsed = raw.select(
        F.from_json(F.col("value").cast("string"), EVENT_SCHEMA).alias("e"),
        F.col("partition"),
        F.col("offset"),
    )
    bought = e.taps.isNotNull() & (e.taps > 0)
    valid = (
        (e.v == 1) & (e.type == "Purchase") & e.id.isNotNull() & e.ts.isNotNull()
        & (e.taps.isNull() | (e.taps >= 0))
        & F.when(bought, e.folio.isNotNull()).otherwise(e.folio.isNull())
    )
    return (
        parsed.where(valid)
        .select(
            "e.*",
            "partition",
            "offset",
            F.col("e.ts").cast("timestamp").alias("event_time"),
            F.when(~bought, F.lit("visit"))
            .when(e.taps < LONG_PURCHASE_MINUTES, F.lit("short"))
            .otherwise(F.lit("long"))
            .alias("kind"),
        )
        .where(F.col("event_time").isNotNull())
    )


def notifications(events):
    """One `PurchaseNotified`-shaped record per purchase, with the report's message text."""
    c = F.col
    opening = F.concat(
        F.lit("Estimad@ "), c("nombre"),
        F.lit(",\n\n¡Esperamos que estés bien! Queríamos recordarte que has adquirido el producto '"),
        c("productovisto"),
        F.lit("' en nuestra tienda en línea. Tu número de folio es: "), c("folio"), F.lit("."),
    )
    # JavaScript prints 45 and 45.5 where Spark casts 45.0 and 45.5.
    taps = F.regexp_replace(c("taps").cast("string"), r"\.0$", "")
    short = c("kind") == "short"
    text = F.when(
        short,
        F.concat(
            opening,
            F.lit(
                "\nTe demoraste un tiempo corto en adquirirlo; te invitamos a seguir comprando en "
                "nuestra plataforma.\n\nSaludos."
            ),
        ),
    ).otherwise(
        F.concat(
            opening,
            F.lit("\nNotamos que completar la compra te tomó "), taps,
            F.lit(
                " minutos, más de lo esperado. Cuéntanos qué problemas tuviste respondiendo este "
                "mensaje o contactando a nuestro servicio al cliente: cada inconveniente será "
                "atendido a la brevedad para mejorar nuestra plataforma.\n\nSaludos."
            ),
        )
    )
    subject = F.when(short, F.concat(F.lit("Gracias por tu compra (folio "), c("folio"), F.lit(")")))\
        .otherwise(F.concat(F.lit("¿Tuviste problemas con tu compra? (folio "), c("folio"), F.lit(")")))
    record = F.struct(
        F.lit(1).alias("v"),
        F.lit("PurchaseNotified").alias("type"),
        c("id"),
        c("kind"),
        c("email").alias("to"),
        subject.alias("subject"),
        text.alias("text"),
        c("folio"),
        F.struct(c("partition"), c("offset").cast("string").alias("offset")).alias("source"),
        F.date_format(F.current_timestamp(), "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").alias("at"),
    )
    return events.where(c("kind") != "visit").select(
        c("id").alias("key"), F.to_json(record).alias("value")
    )


def windows(events, args):
    """Closed tumbling windows: counts and mean `taps`, once the watermark passes their end."""
    c = F.col
    purchase = c("kind") != "visit"
    agg = (
        events.withWatermark("event_time", f"{args.lateness_ms} milliseconds")
        .groupBy(F.window("event_time", f"{args.window_ms} milliseconds").alias("w"))
        .agg(
            F.count(F.lit(1)).alias("events"),
            F.count(F.when(purchase, 1)).alias("purchases"),
            F.count(F.when(~purchase, 1)).alias("visits"),
            F.count(F.when(c("kind") == "short", 1)).alias("short"),
            F.count(F.when(c("kind") == "long", 1)).alias("long"),
            F.sum(F.when(purchase, c("taps"))).alias("tapsSum"),
            F.avg(F.when(purchase, c("taps"))).alias("tapsMean"),
        )
    )
    iso = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
    record = F.struct(
        F.lit(1).alias("v"),
        F.lit("SparkWindow").alias("type"),
        F.date_format(c("w.start"), iso).alias("start"),
        F.date_format(c("w.end"), iso).alias("end"),
        "events", "purchases", "visits", "short", "long", "tapsSum", "tapsMean",
    )
    return agg.select(
        F.date_format(c("w.start"), iso).alias("key"), F.to_json(record).alias("value")
    )


def to_kafka(df, name, topic, args, mode, real_time_ms=0):
    w = (
        df.writeStream.queryName(name)
        .format("kafka")
        .option("kafka.bootstrap.servers", args.brokers)
        .option("topic", topic)
        .option("checkpointLocation", os.path.join(args.checkpoints, name))
        .outputMode(mode)
    )
    if real_time_ms > 0:
        w = w.trigger(realTime=f"{real_time_ms} milliseconds")
    elif args.trigger_ms > 0:
        w = w.trigger(processingTime=f"{args.trigger_ms} milliseconds")
    return w.start()


def end_offsets(progress):
    """The sum over partitions of the source's end offsets in a progress report."""
    total = 0
    for source in progress.get("sources", []):
        end = source.get("endOffset")
        if isinstance(end, str):
            end = json.loads(end)
        for partitions in (end or {}).values():
            total += sum(int(o) for o in partitions.values())
    return total


def main(argv):
    args = parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    spark = session(args)
    spark.sparkContext.setLogLevel("WARN")
    events = classified(spark, args)
    queries = [
        to_kafka(
            notifications(events), "notifications", args.notifications, args,
            "update" if args.real_time_ms > 0 else "append", args.real_time_ms,
        ),
        to_kafka(windows(events, args), "windows", args.windows, args, "append"),
    ]
    say(ready={"queries": [q.name for q in queries], "spark": spark.version})
    last = {}
    try:
        while not stop.is_set():
            for q in queries:
                if q.exception() is not None:
                    raise SystemExit(f"Spark query {q.name} failed: {q.exception()}")
                p = q.lastProgress
                if p is None or last.get(q.name) == p["batchId"]:
                    continue
                last[q.name] = p["batchId"]
                say(progress={
                    "query": q.name,
                    "batch": p["batchId"],
                    "rows": p.get("numInputRows", 0),
                    "end": end_offsets(p),
                    "durationMs": p.get("durationMs", {}).get("triggerExecution"),
                    "watermark": p.get("eventTime", {}).get("watermark"),
                })
            stop.wait(0.05)
    finally:
        for q in queries:
            q.stop()
        spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
