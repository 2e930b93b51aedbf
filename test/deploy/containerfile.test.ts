/**
 * The Containerfile: it copies files that exist, runs `npm ci --omit=dev` on Node 24, runs as the user
 * the Deployment expects, and its ENTRYPOINT + CMD is a `plume up` that starts. No container engine runs
 * here, so the build itself is not part of the suite (docs/deploy.md says how to run it).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { root } from '../helpers.ts';
import { find, plumeContainer, renderBase, upFlags } from './base.ts';
import { checkContainerfile, execForm, parseContainerfile, type ContainerfileExpectations } from './containerfile.ts';

const text = readFileSync(join(root, 'Containerfile'), 'utf8');
const wasmExamples = spawnSync('git', ['ls-files', 'examples/*.wasm', 'examples/**/*.wasm'], { cwd: root, encoding: 'utf8' })
  .stdout.split('\n')
  .filter(Boolean);
const expectations: ContainerfileExpectations = {
  context: root,
  nodeMajor: 24,
  mustContain: ['package.json', 'src/cli/main.ts', ...wasmExamples],
};
const last = (keyword: string): string | undefined =>
  parseContainerfile(text)
    .filter((i) => i.keyword === keyword)
    .at(-1)?.args;
/** PATH with this Node (24) first, as in the image, so that main.ts's `#!/usr/bin/env node` finds it. */
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}` };

let deployment: IDeployment;
before(() => {
  deployment = find<IDeployment>(renderBase(), 'Deployment', 'plume');
});

describe('the Containerfile', () => {
  it('should copy only files that exist, build on Node 24 with npm ci --omit=dev and carry the .wasm examples', () => {
    assert.ok(wasmExamples.length >= 5, `only ${wasmExamples.length} committed examples`);
    const check = checkContainerfile(text, expectations);
    assert.deepEqual(check.problems, []);
    assert.equal(check.entrypointFile, 'src/cli/main.ts');
  });

  it('should run its entrypoint as the package’s `plume` bin', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.deepEqual(execForm(last('ENTRYPOINT')), ['plume']);
    assert.equal(join(root, pkg.bin['plume'] ?? ''), join(root, checkContainerfile(text, expectations).entrypointFile ?? '?'));
  });

  it('should run as the uid and gid the Deployment’s securityContext names', () => {
    const [uid, gid] = (last('USER') ?? '').split(':').map(Number);
    const pod = deployment.spec?.template.spec?.securityContext;
    assert.equal(uid, pod?.runAsUser);
    assert.equal(gid, pod?.runAsGroup);
  });

  it('should expose the ports the Deployment’s container declares', () => {
    const exposed = (last('EXPOSE') ?? '').split(/\s+/).map(Number);
    const declared = plumeContainer(deployment).ports?.map((p) => p.containerPort) ?? [];
    assert.deepEqual([...exposed].sort(), [...declared].sort());
  });

  it('should have a CMD of `plume up --host 0.0.0.0` with flags that plume up has', () => {
    const cmd = execForm(last('CMD')) ?? [];
    assert.deepEqual(cmd.slice(0, 3), ['up', '--host', '0.0.0.0']);
    const flags = upFlags();
    for (const flag of cmd.filter((a) => a.startsWith('--'))) assert.ok(flags.has(flag), `plume up has no ${flag}`);
  });

  it('should start a node that answers /healthz when its entrypoint and CMD run as the image runs them', async () => {
    // The script itself, not `node script`: the shebang and the exec bit are what the image relies on.
    const cmd = (execForm(last('CMD')) ?? []).map((a) => (a === '0.0.0.0' ? '127.0.0.1' : a));
    const child = spawn(join(root, 'src/cli/main.ts'), [...cmd, '--port', '0', '--workers', '1'], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const line = out.split('\n').find((l) => l.startsWith('http'));
          if (line) resolve(line.trim());
        });
        child.once('exit', (code) => reject(new Error(`plume up exited ${code}: ${stderr}`)));
      });
      const health = (await (await fetch(`${url}/healthz`)).json()) as { status: string; workers: number };
      assert.deepEqual({ status: health.status, workers: health.workers }, { status: 'ok', workers: 1 });
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });
});

describe('the Containerfile check', () => {
  const problems = (broken: string): string => checkContainerfile(broken, expectations).problems.join('\n');

  it('should report a COPY of a file that does not exist and one that .dockerignore leaves out', () => {
    assert.match(problems(text.replace('COPY src ./src', 'COPY src ./src\nCOPY nope.txt ./')), /COPY nope\.txt: no such file/);
    assert.match(
      problems(text.replace('COPY src ./src', 'COPY src ./src\nCOPY node_modules ./nm')),
      /COPY node_modules: .dockerignore leaves it out/,
    );
    assert.match(problems(text.replace('COPY examples ./examples', '')), /the image lacks examples\/.*\.wasm/);
  });

  it('should report an entrypoint that is not on the PATH, not copied, or not executable', () => {
    assert.match(problems(text.replace('ENTRYPOINT ["plume"]', 'ENTRYPOINT ["plumed"]')), /ENTRYPOINT 'plumed' is not on the PATH/);
    assert.match(problems(text.replace('/app/src/cli/main.ts', '/app/src/cli/nope.ts')), /which does not exist/);
    assert.match(problems(text.replace('/app/src/cli/main.ts', '/opt/main.ts')), /which no COPY puts in the image/);
    assert.match(problems(text.replace('/app/src/cli/main.ts', '/app/src/cli/up.ts')), /which is not executable/);
    assert.match(problems(text.replace('ENTRYPOINT ["plume"]', 'ENTRYPOINT plume')), /ENTRYPOINT must be in exec form/);
  });

  it('should report a root user, another Node, a missing npm ci --omit=dev and an unfinished line', () => {
    assert.match(problems(text.replace('USER 10001:10001', 'USER root')), /USER root: must be a numeric non-root uid/);
    assert.match(problems(text.replace('USER 10001:10001', '')), /no USER/);
    assert.match(problems(text.replace('node:24-bookworm-slim', 'node:20-bookworm-slim')), /not Node 24/);
    assert.match(problems(text.replace('npm ci --omit=dev', 'npm ci')), /no RUN npm ci --omit=dev/);
    assert.match(
      problems(text.replace('COPY package.json package-lock.json .npmrc ./', 'COPY package.json package-lock.json ./')),
      /\.npmrc is not copied/,
    );
    assert.match(problems(`${text}\nRUN true \\`), /ends inside a continued line/);
  });
});
