// A local D1 for plain workerd (the bench and the self-hosted build): the same design wrangler dev (miniflare) uses, cut to what the
// D1 binding needs. The worker's LEDGER binding is workerd's own D1 client
// (`cloudflare-internal:d1-api`) whose `fetcher` points here; this entrypoint forwards each
// query batch to one SQLite-backed Durable Object, which runs it in a transaction.
import { DurableObject, WorkerEntrypoint } from 'cloudflare:workers';

const toParam = (v) => (Array.isArray(v) ? new Uint8Array(v) : v);
const toCell = (v) => (v instanceof ArrayBuffer ? Array.from(new Uint8Array(v)) : v);

export class D1Shim extends DurableObject {
  run(queries, format) {
    const sql = this.ctx.storage.sql;
    return this.ctx.storage.transactionSync(() =>
      queries.map(({ sql: text, params }) => {
        const t0 = performance.now();
        const cursor = sql.exec(text, ...(params ?? []).map(toParam));
        const columns = cursor.columnNames;
        const rows = Array.from(cursor.raw(), (row) => row.map(toCell));
        const duration = performance.now() - t0;
        const [changes, lastRowId] = sql.exec('SELECT changes(), last_insert_rowid()').raw().next().value;
        const results = format === 'ROWS_AND_COLUMNS'
          ? { columns, rows }
          : rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])));
        return {
          success: true,
          results,
          meta: {
            served_by: 'oachat-d1-shim', served_by_primary: true, total_attempts: 1,
            timings: { sql_duration_ms: duration }, duration, changes, last_row_id: lastRowId,
            changed_db: changes > 0, size_after: sql.databaseSize,
            rows_read: cursor.rowsRead, rows_written: cursor.rowsWritten,
          },
        };
      }));
  }

  async fetch(request) {
    let body = await request.json();
    if (!Array.isArray(body)) body = [body];
    const format = new URL(request.url).searchParams.get('resultsFormat');
    try {
      return Response.json(this.run(body, format));
    } catch (error) {
      return Response.json({ success: false, error: String(error?.message ?? error) }, { status: 500 });
    }
  }
}

export default class D1Entry extends WorkerEntrypoint {
  stub() {
    return this.env.DB.get(this.env.DB.idFromName('ledger'));
  }
  fetch(request) {
    return this.stub().fetch(request);
  }
  // The RPC form of the same protocol (newer bindings).
  async query({ queries }) {
    const response = await this.stub().fetch(new Request('http://d1/query?resultsFormat=ROWS_AND_COLUMNS', {
      method: 'POST', body: JSON.stringify(queries),
    }));
    const body = await response.json();
    if (!Array.isArray(body)) {
      const error = new Error(body.error);
      error.name = 'D1_ERROR';
      throw error;
    }
    return { results: body.map(({ meta, results }) => ({ meta, data: { kind: 'raw', ...results } })) };
  }
}
