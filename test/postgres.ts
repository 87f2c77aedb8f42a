/**
 * A throw-away PostgreSQL server for the tests: initdb into a temporary folder, a private port on
 * 127.0.0.1 (password authentication for TCP), stopped and removed at the end. Uses the server binaries of
 * Debian's `postgresql` package (/usr/lib/postgresql/<version>/bin; .ci/run installs it when missing) or
 * of GENMEASURES_PG_BIN. As root, the server runs as the `postgres` user (initdb refuses root).
 *
 * Where no server binaries exist, `findPostgres()` says why and the tests that need one are skipped with
 * that reason (CI installs them, so there they run).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface PgBinaries {
  bin: string;
}

/** The folder of initdb/pg_ctl, or a string saying why there is none. */
export function findPostgres(): PgBinaries | string {
  const candidates: string[] = [];
  if (process.env.GENMEASURES_PG_BIN) candidates.push(process.env.GENMEASURES_PG_BIN);
  try {
    const versions = fs.readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {
    /* no Debian PostgreSQL */
  }
  for (const dir of candidates) if (fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl'))) return { bin: dir };
  return 'no PostgreSQL server binaries (apt-get install postgresql, or set GENMEASURES_PG_BIN)';
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export const PG_USER = 'gm';
export const PG_PASSWORD = 'gm-test-secret';

export class TestPostgres {
  readonly dir: string;
  readonly port: number;
  private readonly bin: string;
  private readonly asUser: string[];
  private counter = 0;

  private constructor(bin: string, dir: string, port: number, asUser: string[]) {
    this.bin = bin;
    this.dir = dir;
    this.port = port;
    this.asUser = asUser;
  }

  /** initdb and start a server; throws with the server's log when it cannot. */
  static async start(bins: PgBinaries): Promise<TestPostgres> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-pg-'));
    const root = process.getuid?.() === 0;
    const asUser = root ? ['runuser', '-u', 'postgres', '--'] : [];
    if (root) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      fs.chownSync(dir, uid, gid);
    }
    const port = await freePort();
    const db = new TestPostgres(bins.bin, dir, port, asUser);
    const pw = path.join(dir, 'pw');
    fs.writeFileSync(pw, PG_PASSWORD);
    if (root) fs.chownSync(pw, fs.statSync(dir).uid, fs.statSync(dir).gid);
    db.exec('initdb', ['-D', db.data, '-U', PG_USER, '--pwfile', pw, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-instructions']);
    fs.appendFileSync(
      path.join(db.data, 'postgresql.conf'),
      [`port = ${port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`, 'fsync = off', 'synchronous_commit = off', 'full_page_writes = off', 'max_connections = 200', "shared_buffers = '32MB'"].join('\n') + '\n',
    );
    db.startServer();
    return db;
  }

  get data(): string {
    return path.join(this.dir, 'data');
  }

  private exec(tool: string, args: string[]): void {
    const cmd = [...this.asUser, path.join(this.bin, tool), ...args];
    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 120000 });
    if (r.status !== 0) {
      let log = '';
      try {
        log = fs.readFileSync(path.join(this.dir, 'log'), 'utf8').slice(-2000);
      } catch {
        /* no log yet */
      }
      throw new Error(`${tool} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}\n${log}`);
    }
  }

  startServer(): void {
    this.exec('pg_ctl', ['-D', this.data, '-l', path.join(this.dir, 'log'), '-w', '-t', '60', 'start']);
  }

  /** Stop the server now (fast shutdown: connections are cut), keeping its data. */
  stopServer(): void {
    this.exec('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', 'stop']);
  }

  /** The URL of a database (default: the maintenance database `postgres`). */
  url(database = 'postgres', password = PG_PASSWORD): string {
    return `postgres://${PG_USER}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${database}`;
  }

  /** A new, empty database; its URL. */
  async createDatabase(prefix = 't'): Promise<string> {
    const name = `${prefix}_${process.pid}_${++this.counter}`;
    const c = new pg.Client({ connectionString: this.url() });
    await c.connect();
    try {
      await c.query(`CREATE DATABASE ${name}`);
    } finally {
      await c.end();
    }
    return this.url(name);
  }

  /** Stop the server and remove its folder. */
  destroy(): void {
    try {
      this.exec('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      /* not running */
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
