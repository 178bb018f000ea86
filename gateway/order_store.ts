/**
 * The gateway's order store on disk: the compacted `order_status` topic (lib/order_status.ts)
 * materialised into SQLite (`node:sqlite`), together with the offset it has applied per partition,
 * in the same SQLite transaction as the rows. A restart reads the offsets and resumes from them; a
 * lost file is rebuilt from the topic. Memory does not grow with the number of orders: rows live
 * on disk, SQLite's page cache is bounded, and only the orders someone watches have listeners.
 *
 * It answers the questions of {@linkcode OrderReadModel}, as the in-memory `OrderView` the route
 * tests use does.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { ORDER_STATES, type OrderInput, type OrderState } from "../lib/order.ts";
import { OrderStatusFactSchema, parseStatusKey } from "../lib/order_status.ts";
import { parseRecord } from "../lib/kafka/mod.ts";
import {
  type HistoryEntry,
  type NotificationEntry,
  OrderChanges,
  type OrderEvent,
  type OrderReadModel,
  type OrderStatus,
} from "./order_view.ts";

/** Bumped when the tables change: a store of another version is rebuilt from the topic. */
const SCHEMA_VERSION = "2";

/** One record of the status topic, as the store applies it. */
export interface StatusRecord {
  /** `{id}/step/{seq}` or `{id}/mail/{state}`. */
  key: string | null;
  /** The fact's JSON bytes, or null for a tombstone. */
  value: Uint8Array | null;
}

/** What {@linkcode OrderStore.apply} did with a batch. */
export interface Applied {
  /** Records that were facts or tombstones of the status topic. */
  applied: number;
  /** Records that were neither (logged by the caller; never fatal). */
  skipped: number;
}

/** Options of {@linkcode OrderStore}. */
export interface OrderStoreOptions {
  /**
   * The status topic this store materialises: a store of another topic (or none) is emptied
   * first, so a file reused across deployments or tests never mixes their orders.
   */
  topic: string;
}

/** The compacted status topic, materialised in SQLite with the offsets applied. */
export class OrderStore implements OrderReadModel {
  #db: DatabaseSync;
  #changes = new OrderChanges();
  #q: Record<string, StatementSync>;

  /**
   * Opens (or creates) the store at `path`.
   *
   * @param path A file path (its directory must exist), or `:memory:` in tests.
   * @param options The status topic.
   */
  constructor(path: string, options: OrderStoreOptions) {
    this.#db = new DatabaseSync(path);
    // WAL: readers do not wait on the writer; NORMAL: a power cut may lose the last transactions,
    // never consistency, and what it loses is read again from the offsets kept with the rows.
    // The wait for another connection's lock first: two gateways starting on one file (the fault
    // suite's graceful-stop) must wait for each other, not fail with "database is locked".
    this.#db.exec("PRAGMA busy_timeout = 5000");
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    // Every write transaction below is BEGIN IMMEDIATE: it takes the write lock at once, where the
    // busy timeout applies; a deferred one upgrading later fails at once against another writer.
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS orders (
        seen INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        order_json TEXT NOT NULL,
        trace_id TEXT
      );
      CREATE TABLE IF NOT EXISTS steps (
        id TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL, at TEXT NOT NULL,
        PRIMARY KEY (id, seq)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS mails (
        id TEXT NOT NULL, state TEXT NOT NULL, entry TEXT NOT NULL,
        PRIMARY KEY (id, state)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS offsets (partition INTEGER PRIMARY KEY, next INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS erased (id TEXT PRIMARY KEY) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS finished ON steps (at) WHERE seq = ${ORDER_STATES.length};
    `);
    const meta = this.#db.prepare("SELECT key, value FROM meta").all() as {
      key: string;
      value: string;
    }[];
    const known = new Map(meta.map((m) => [m.key, m.value]));
    if (known.get("topic") !== options.topic || known.get("version") !== SCHEMA_VERSION) {
      this.#db.exec("BEGIN IMMEDIATE");
      this.#empty();
      this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?), (?, ?)").run(
        "topic",
        options.topic,
        "version",
        SCHEMA_VERSION,
      );
      this.#db.exec("COMMIT");
    }
    const q = (sql: string) => this.#db.prepare(sql);
    this.#q = {
      upsertOrder: q(
        `INSERT INTO orders (id, order_json, trace_id) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET trace_id = COALESCE(orders.trace_id, excluded.trace_id)`,
      ),
      insertStep: q("INSERT OR IGNORE INTO steps (id, seq, state, at) VALUES (?, ?, ?, ?)"),
      upsertMail: q("INSERT OR REPLACE INTO mails (id, state, entry) VALUES (?, ?, ?)"),
      deleteStep: q("DELETE FROM steps WHERE id = ? AND seq = ?"),
      deleteMail: q("DELETE FROM mails WHERE id = ? AND state = ?"),
      stepsLeft: q("SELECT count(*) AS n FROM steps WHERE id = ?"),
      deleteOrder: q("DELETE FROM orders WHERE id = ?"),
      deleteMails: q("DELETE FROM mails WHERE id = ?"),
      setOffset: q(
        `INSERT INTO offsets (partition, next) VALUES (?, ?)
         ON CONFLICT (partition) DO UPDATE SET next = MAX(offsets.next, excluded.next)`,
      ),
      offsets: q("SELECT partition, next FROM offsets ORDER BY partition"),
      order: q("SELECT id, order_json, trace_id FROM orders WHERE id = ?"),
      steps: q("SELECT state, seq, at FROM steps WHERE id = ? ORDER BY seq"),
      mails: q("SELECT state, entry FROM mails WHERE id = ?"),
      recent: q("SELECT id FROM orders ORDER BY seen DESC LIMIT ?"),
      count: q("SELECT count(*) AS n FROM orders"),
      expired: q(
        `SELECT id FROM steps WHERE seq = ${ORDER_STATES.length} AND at < ? ORDER BY at LIMIT 1000`,
      ),
      deleteSteps: q("DELETE FROM steps WHERE id = ?"),
      erase: q("INSERT OR IGNORE INTO erased (id) VALUES (?)"),
      isErased: q("SELECT 1 AS e FROM erased WHERE id = ?"),
    };
  }

  /** Orders known (a count on disk, not in memory). */
  get size(): number {
    return Number((this.#q.count!.get() as { n: number }).n);
  }

  /**
   * The next offset to read per partition of the status topic: everything before it is applied.
   *
   * @returns Partition → offset (decimal string); partitions never applied are absent.
   */
  offsets(): Map<number, string> {
    const rows = this.#q.offsets!.all() as { partition: number; next: number }[];
    return new Map(rows.map((r) => [Number(r.partition), String(r.next)]));
  }

  /**
   * Applies records of one partition and moves its offset to `next`, in one SQLite transaction:
   * after a crash either both are there or neither, so resuming from the offset never skips a
   * row nor needs one twice (applying one twice would change nothing anyway).
   *
   * @param partition The status topic's partition.
   * @param records The records, in offset order.
   * @param next The offset after the last one read (markers included).
   * @returns How many records were applied and how many skipped.
   */
  apply(partition: number, records: readonly StatusRecord[], next: string): Applied {
    const changed = new Map<string, OrderEvent[]>();
    let applied = 0;
    let skipped = 0;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const r of records) {
        if (this.#applyOne(r, changed)) applied++;
        else skipped++;
      }
      this.#q.setOffset!.run(partition, Number(next));
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
    this.#tell(changed);
    return { applied, skipped };
  }

  /** Records an order Kafka has acknowledged (this instance's `POST`), before its first step. */
  accept(id: string, order: OrderInput, traceId: string | null = null): void {
    const known = this.#q.order!.get(id) !== undefined;
    this.#q.upsertOrder!.run(id, JSON.stringify(order), traceId);
    if (!known && this.#changes.watched) this.#tell(new Map([[id, []]]));
  }

  /**
   * Forgets order `id` for good, at once: the instance that took `DELETE /orders/{id}` answers
   * 404 before the erasure comes back through the status topic (where the `{id}/erased` marker
   * does the same on every instance, also on a rebuild).
   *
   * @returns Whether the order was known.
   */
  erase(id: string): boolean {
    const known = this.#q.order!.get(id) !== undefined;
    const changed = new Map<string, OrderEvent[]>();
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      this.#forget(id, changed);
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
    this.#changes.tell(id, { kind: "erased" });
    return known;
  }

  /** The order with `id`, if known. */
  get(id: string): OrderStatus | undefined {
    const row = this.#q.order!.get(id) as
      | { id: string; order_json: string; trace_id: string | null }
      | undefined;
    if (row === undefined) return undefined;
    const history = this.#history(id);
    const notifications = (this.#q.mails!.all(id) as { state: OrderState; entry: string }[])
      .sort((a, b) => ORDER_STATES.indexOf(a.state) - ORDER_STATES.indexOf(b.state))
      .map((m) => JSON.parse(m.entry) as NotificationEntry);
    return {
      id,
      order: JSON.parse(row.order_json) as OrderInput,
      state: history.at(-1)?.state ?? "recibido",
      history,
      notifications,
      traceId: row.trace_id,
    };
  }

  /** Up to `limit` orders, the one this store learnt of last first. */
  recent(limit: number): OrderStatus[] {
    if (limit <= 0) return [];
    const ids = this.#q.recent!.all(limit) as { id: string }[];
    return ids.map((r) => this.get(r.id)).filter((s): s is OrderStatus => s !== undefined);
  }

  /** Calls `listener` with the order after every change of any order; returns the unsubscribe. */
  watch(listener: (status: OrderStatus) => void): () => void {
    return this.#changes.watch(listener);
  }

  /** Calls `listener` on every later change of order `id`; returns the unsubscribe. */
  subscribe(id: string, listener: (event: OrderEvent) => void): () => void {
    return this.#changes.subscribe(id, listener);
  }

  /**
   * Forgets the orders that finished before `before`: the rule by which Kafka deletes them from
   * the status topic (`retention.ms`), so the store keeps no order, nor its personal data, that the
   * topic no longer has. In transactions of 1,000 orders, so readers are never held long.
   *
   * @param before An ISO 8601 time: orders whose `finalizado` is earlier go.
   * @returns How many orders were forgotten.
   */
  prune(before: string): number {
    let total = 0;
    for (;;) {
      const ids = this.#q.expired!.all(before) as { id: string }[];
      if (ids.length === 0) return total;
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        for (const { id } of ids) {
          this.#q.deleteSteps!.run(id);
          this.#q.deleteMails!.run(id);
          this.#q.deleteOrder!.run(id);
        }
        this.#db.exec("COMMIT");
      } catch (error) {
        this.#db.exec("ROLLBACK");
        throw error;
      }
      total += ids.length;
    }
  }

  /** Empties the store (rows and offsets), for a rebuild from the topic's beginning. */
  reset(): void {
    this.#db.exec("BEGIN IMMEDIATE");
    this.#empty();
    this.#db.exec("COMMIT");
  }

  /** Closes the file. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /**
   * The order's reached states from `recibido` on, up to the first one missing. An order's steps
   * are keyed apart and so may sit on different partitions of the status topic, read at different
   * paces: a later step can arrive before an earlier one. Until the gap fills (moments later), the
   * order shows the states before it, so no reader ever sees `finalizado` without `entregando`.
   */
  #history(id: string): HistoryEntry[] {
    const rows = this.#q.steps!.all(id) as { state: OrderState; seq: number; at: string }[];
    const history: HistoryEntry[] = [];
    for (const r of rows) {
      if (Number(r.seq) !== history.length + 1) break;
      history.push({ state: r.state, seq: Number(r.seq), at: r.at });
    }
    return history;
  }

  #empty(): void {
    this.#db.exec(
      "DELETE FROM orders; DELETE FROM steps; DELETE FROM mails; DELETE FROM offsets; DELETE FROM erased",
    );
  }

  /** Applies one record; false when it is not a status record. */
  #applyOne(r: StatusRecord, changed: Map<string, OrderEvent[]>): boolean {
    const key = r.key === null ? null : parseStatusKey(r.key);
    if (key === null) return false;
    // An erased order stays forgotten: a fact of it read later (from a partition read behind the
    // marker's, or written before the erasure and not yet compacted away) changes nothing.
    if (key.kind === "erased" || this.#q.isErased!.get(key.id) !== undefined) {
      if (key.kind === "erased" && r.value !== null) {
        this.#forget(key.id, changed);
        changed.set(key.id, [{ kind: "erased" }]);
      }
      return true;
    }
    if (r.value === null) {
      if (key.kind === "step") {
        this.#q.deleteStep!.run(key.id, Number(key.part));
        const left = this.#q.stepsLeft!.get(key.id) as { n: number };
        // An order whose every step is erased is gone, its mails with it.
        if (Number(left.n) === 0) {
          this.#q.deleteOrder!.run(key.id);
          this.#q.deleteMails!.run(key.id);
        }
      } else this.#q.deleteMail!.run(key.id, key.part);
      return true;
    }
    const fact = parseRecord(r.value, OrderStatusFactSchema);
    if (!fact.ok || fact.value.id !== key.id || fact.value.type === "OrderErased") return false;
    const f = fact.value;
    const events = changed.get(f.id) ?? [];
    if (f.type === "OrderStep") {
      this.#q.upsertOrder!.run(f.id, JSON.stringify(f.order), f.traceId);
      const told = this.#changes.heard(f.id);
      const before = told ? this.#history(f.id).length : 0;
      const added = this.#q.insertStep!.run(f.id, f.seq, f.state, f.at);
      // Told in seq order: a step whose predecessor has not arrived yet (another partition) is
      // told with it, once it does.
      if (told && Number(added.changes) > 0) {
        for (const entry of this.#history(f.id).slice(before)) {
          events.push({ kind: "state", entry });
        }
      }
    } else {
      const { v: _v, type: _type, id: _id, ...entry } = f;
      this.#q.upsertMail!.run(f.id, f.state, JSON.stringify(entry));
      events.push({ kind: "notification", entry });
    }
    if (events.length > 0) changed.set(f.id, events);
    return true;
  }

  /** Forgets order `id` for good: its rows go, and later facts of it are ignored. */
  #forget(id: string, changed: Map<string, OrderEvent[]>): void {
    this.#q.deleteSteps!.run(id);
    this.#q.deleteMails!.run(id);
    this.#q.deleteOrder!.run(id);
    this.#q.erase!.run(id);
    changed.delete(id);
  }

  /** Tells listeners of what changed, once the transaction is committed. */
  #tell(changed: Map<string, OrderEvent[]>): void {
    for (const [id, events] of changed) {
      for (const event of events) this.#changes.tell(id, event);
    }
    if (!this.#changes.watched) return;
    for (const id of changed.keys()) {
      const status = this.get(id);
      if (status !== undefined) this.#changes.tellAll(status);
    }
  }
}
