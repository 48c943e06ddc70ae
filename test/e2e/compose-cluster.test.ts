// docker-compose.cluster.yml cannot run here (no Docker engine): check what can be checked without one.
// The file parses (PyYAML) and has the shape (three apps on rs0 with w=majority and
// journal=true, one NATS, NGINX with an upstream of the three), and the NGINX config its nginx service
// renders from deploy/nginx passes `nginx -t`, with local addresses in place of the service names
// (nginx -t resolves upstream host names).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { skipReason } from '../helpers/skips.js';
import { findBinary } from './helpers/nginx.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FILE = join(ROOT, 'docker-compose.cluster.yml');
const NGINX = findBinary('nginx');

type Service = { image?: string; command?: string | string[]; environment?: Record<string, string>; depends_on?: Record<string, unknown>; stop_grace_period?: string };

function loadCompose(): { services: Record<string, Service> } | undefined {
  try {
    const json = execFileSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', FILE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return JSON.parse(json) as { services: Record<string, Service> };
  } catch {
    return undefined;
  }
}

const compose = loadCompose();

describe('docker-compose.cluster.yml (without Docker)', { skip: compose ? false : skipReason('pyyaml') }, () => {
  const services = compose?.services ?? {};
  const apps = ['app1', 'app2', 'app3'];

  it('runs three app instances on one MongoDB replica set (rs0, w=majority, journal=true) and one NATS', () => {
    assert.match(String(services.mongo?.command), /--replSet,rs0|--replSet rs0/);
    assert.match(JSON.stringify(services['mongo-init']?.command), /rs\.initiate\(\{ _id: 'rs0'/);
    for (const name of apps) {
      const env = services[name]?.environment ?? {};
      assert.match(env.DB_URI ?? '', /replicaSet=rs0/, name);
      assert.match(env.DB_URI ?? '', /w=majority/, name);
      assert.match(env.DB_URI ?? '', /journal=true/, name);
      assert.match(env.BUS_URI ?? '', /nats:\/\/nats:4222/, name);
      assert.ok(Number(env.SHUTDOWN_DRAIN_DELAY_MS) > 0 && Number(env.SHUTDOWN_DRAIN_DELAY_MS) < Number(env.SHUTDOWN_GRACE_MS), `${name}: drain delay inside the grace period`);
      assert.ok(Number.parseInt(services[name]!.stop_grace_period ?? '0', 10) * 1000 > Number(env.SHUTDOWN_GRACE_MS), `${name}: Docker waits longer than the server's grace`);
      assert.ok(services[name]?.depends_on?.['mongo-init'] && services[name]?.depends_on?.nats, `${name} starts after rs0 is initiated and NATS`);
    }
    assert.match(services.nats?.image ?? '', /^nats:/);
  });

  it('puts NGINX in front with an upstream of the three, and its rendered config passes nginx -t', { skip: NGINX ? false : skipReason('nginx') }, async () => {
    const env = services.nginx?.environment ?? {};
    assert.equal(env.CHAT_UPSTREAM, apps.map((name) => `${name}:3000`).join(','));
    const dir = await mkdtemp(join(tmpdir(), 'compose-nginx-'));
    try {
      const conf = execFileSync('sh', [join(ROOT, 'deploy/nginx/render.sh')], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CHAT_UPSTREAM: env.CHAT_UPSTREAM!.replaceAll(/app(\d):3000/g, '127.0.0.1:300$1'), NGINX_LISTEN: '127.0.0.1:18080', WS_PATH: '/ws' },
      });
      for (const port of [3001, 3002, 3003]) assert.match(conf, new RegExp(`server 127\\.0\\.0\\.1:${port} max_fails=1`));
      assert.match(conf, /location = \/ws \{[^}]*proxy_set_header Upgrade \$http_upgrade;/);
      await writeFile(join(dir, 'chat.conf'), conf);
      await writeFile(join(dir, 'nginx.conf'), `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  include ${dir}/chat.conf;\n}\n`);
      execFileSync(NGINX!, ['-t', '-q', '-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
      assert.match(await readFile(FILE, 'utf8'), /\.\/deploy\/nginx:\/etc\/chat-nginx:ro/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
