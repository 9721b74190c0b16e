// Drive a real pi TUI inside tmux for the end-to-end test: find (or install) tmux and pi,
// start pi in a detached session of fixed size on a private tmux server, type into it,
// and read the screen back. The server listens on a socket file the caller chooses (put it in a
// temp dir), so a user's tmux is untouched and nothing is left behind.
import { execFileSync, spawnSync } from 'node:child_process'

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 180_000, ...opts })

function which(cmd) {
  const r = run('sh', ['-c', `command -v ${cmd}`])
  return r.status === 0 ? r.stdout.trim() : null
}

/** tmux's path, installing it with apt-get when missing and we may; null when impossible. */
export function ensureTmux() {
  let tmux = which('tmux')
  if (!tmux && process.getuid?.() === 0 && which('apt-get')) {
    run('apt-get', ['install', '-y', '-qq', 'tmux'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    tmux = which('tmux')
  }
  return tmux
}

// pi's path, as pack.spec takes it; the pinned versions and their installs live in pi-install.mjs
export { piBin as ensurePi } from './pi-install.mjs'

const quote = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`

/** A pi process in a detached tmux session. */
export class PiSession {
  constructor({ tmux, socket, name = 'pi', width = 200, height = 50 }) {
    Object.assign(this, { tmux, socket, name, width, height })
  }

  t(...args) {
    // -f /dev/null: no user tmux.conf; -S: a private server on our own socket file
    return execFileSync(this.tmux, ['-f', '/dev/null', '-S', this.socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  }

  /** Start `argv` with exactly `env` (plus PATH/TERM) in cwd. */
  start(argv, { env, cwd }) {
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`).join(' ')
    const cmd = `cd ${quote(cwd)} && exec env -i ${envArgs} ${argv.map(quote).join(' ')}`
    this.t('new-session', '-d', '-s', this.name, '-x', String(this.width), '-y', String(this.height), cmd)
    // keep the pane after pi exits, so its exit and last screen can be read
    this.t('set-option', '-t', this.name, 'remain-on-exit', 'on')
  }

  /** The visible screen (history: also the scrollback). */
  screen({ history = false } = {}) {
    try {
      return this.t('capture-pane', '-p', '-t', this.name, ...(history ? ['-S', '-2000'] : []))
    } catch {
      return ''
    }
  }

  type(text) {
    this.t('send-keys', '-t', this.name, '-l', text)
  }

  key(...keys) {
    this.t('send-keys', '-t', this.name, ...keys)
  }

  /** Type a slash command and submit it. Enter on an open autocomplete menu only applies the
   *  completion, so the menu is closed with Escape first. */
  async command(text) {
    this.type(text)
    await sleep(250)
    this.key('Escape')
    await sleep(100)
    this.key('Enter')
  }

  /** true once the process in the pane has exited */
  dead() {
    try {
      return this.t('display-message', '-p', '-t', this.name, '#{pane_dead}').trim() === '1'
    } catch {
      return true // session gone
    }
  }

  exitStatus() {
    try {
      return Number(this.t('display-message', '-p', '-t', this.name, '#{pane_dead_status}').trim())
    } catch {
      return NaN
    }
  }

  /** Poll the screen until pred(screen) is true; resolves with the screen, rejects with it on timeout. */
  async waitFor(pred, { timeoutMs = 15_000, what = 'condition', history = false } = {}) {
    const test = typeof pred === 'function' ? pred : (s) => (pred instanceof RegExp ? pred.test(s) : s.includes(pred))
    const until = Date.now() + timeoutMs
    let s = ''
    while (Date.now() < until) {
      s = this.screen({ history })
      if (test(s)) return s
      if (this.dead()) break
      await sleep(100)
    }
    throw new Error(`timed out waiting for ${what}; screen:\n${s}`)
  }

  /** Like waitFor, for output that may have scrolled away: tests the screen plus tmux's scrollback
   *  and, when that is not enough, the pages above reached with PageUp (pi 1.6's fullscreen mode
   *  owns the viewport, so nothing scrolls into tmux's history), then returns to the bottom. */
  async waitForTranscript(pred, { timeoutMs = 15_000, what = 'condition', maxPages = 30 } = {}) {
    const test = pred instanceof RegExp ? (s) => pred.test(s) : pred
    const until = Date.now() + timeoutMs
    let seen = ''
    while (Date.now() < until) {
      seen = this.screen({ history: true })
      if (test(seen)) return seen
      let page = this.screen()
      for (let i = 0; i < maxPages && !test(seen); i++) {
        this.key('PPage')
        await sleep(150)
        const next = this.screen()
        if (next === page) break // at the top
        seen = `${next}\n${seen}`
        page = next
      }
      this.key('C-End')
      if (test(seen)) return seen
      if (this.dead()) break
      await sleep(200)
    }
    throw new Error(`timed out waiting for ${what}; transcript:\n${seen}`)
  }

  kill() {
    try {
      this.t('kill-server')
    } catch {
      // already gone
    }
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
