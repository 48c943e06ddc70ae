// Why a suite is skipped, and how to run it, in one place: the tests skip with skipReason(need), and
// the end-of-run summary (test/reporters/skip-summary.ts) maps every reason back to its how-to. A
// skipped suite passes the run, so the summary is the only place a reader learns what did not run.

export const REQUIREMENTS = {
  mongo: {
    label: 'MongoDB',
    missing: 'TEST_MONGO_URI not set',
    howTo:
      'bash scripts/mongo-test-server.sh start (FerretDB on the local PostgreSQL, as CI does) or docker run -d -p 27017:27017 mongo:7, ' +
      'then TEST_MONGO_URI=mongodb://127.0.0.1:27017/ npm test (REQUIRE_MONGO=1 makes a missing server fail instead of skip). ' +
      'It also adds the MongoDB runs of the store contract, flow, fuzz, ack-drop and SDK fault suites, which otherwise run on the memory store only.',
  },
  nats: {
    label: 'NATS',
    missing: 'nothing answers at TEST_NATS_URI',
    howTo: 'run a NATS server (nats-server, or docker run -d -p 4222:4222 nats:2) at TEST_NATS_URI (default nats://127.0.0.1:4222), together with TEST_MONGO_URI; REQUIRE_BUS=1 makes it required',
  },
  natsServer: {
    label: 'a nats-server binary',
    missing: 'no nats-server in NATS_SERVER_BIN, PATH, /usr/sbin or the build cache',
    howTo: 'bash scripts/nats-server.sh build (go install into ~/.cache, as CI does), or apt-get install -y nats-server; the cluster fault tests start, kill and freeze their own NATS on a free port. REQUIRE_BUS=1 makes it required',
  },
  nginx: { label: 'nginx', missing: 'nginx is not installed', howTo: 'apt-get install -y nginx (CI=true makes it required)' },
  chromium: { label: 'Chromium', missing: '/usr/bin/chromium is missing', howTo: 'apt-get install -y chromium (CI=true makes it required)' },
  pyyaml: { label: 'PyYAML', missing: "python3 cannot import yaml", howTo: 'apt-get install -y python3-yaml (used only to read docker-compose.cluster.yml without Docker)' },
  openssl: { label: 'openssl', missing: 'openssl is not installed', howTo: 'apt-get install -y openssl' },
  gitInstall: {
    label: 'a git URL install',
    missing: 'slow (~20 s: npm clones, installs the dev dependencies, builds and packs)',
    howTo: 'TEST_SDK_GIT_INSTALL=1 npm test (CI=true runs it)',
  },
} as const;

export type Requirement = keyof typeof REQUIREMENTS;

/** The skip message for a suite that needs `need`: `needs <label>: <detail>`. */
export function skipReason(need: Requirement, detail?: string): string {
  const { label, missing } = REQUIREMENTS[need];
  return `needs ${label}: ${detail ?? missing}`;
}

/** How to run what a skip message (from skipReason) says is missing; undefined for other messages. */
export function howToRun(reason: string): string | undefined {
  for (const { label, howTo } of Object.values(REQUIREMENTS)) if (reason.startsWith(`needs ${label}: `)) return howTo;
  return undefined;
}
