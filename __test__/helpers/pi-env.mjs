// The environment every real-pi test runs pi in: a throwaway home and agent dir, offline,
// no telemetry or hyperlink probes, and the built-in providers pointed at the sandbox.
// Only what is listed here reaches pi (PiSession starts it with `env -i`).

/** `pi` is an entry of pisToTest() (its PATH carries the right Node). */
export function piEnv(pi, { home, agentDir, sandboxUrl, extra = {} }) {
  return {
    PATH: pi?.env?.PATH ?? process.env.PATH,
    HOME: home,
    TERM: 'tmux-256color',
    LANG: 'C.UTF-8',
    PI_CODING_AGENT_DIR: agentDir,
    PI_OFFLINE: '1',
    PI_SKIP_VERSION_CHECK: '1',
    PI_TELEMETRY: '0',
    // else pi 1.6 runs `tmux display-message` to probe hyperlinks, and with $TMUX gone (env -i)
    // that reaches the default tmux server, not our private one
    PI_HYPERLINKS: '0',
    PI_USAGE_TRACKER_BASE_URL: sandboxUrl,
    ...extra,
  }
}
