// Loopback stand-in for a model API, so a real pi can make a real model call in the e2e test:
// Anthropic's POST /v1/messages answered with a short SSE stream and the quota headers the real
// service sends on every response (see headers.md in the fixtures), and an OpenAI-compatible
// POST …/chat/completions (Groq's /openai/v1 and the plain /v1) answered with a chat-completion
// chunk stream and that service's rate-limit headers. Which headers go out is set per test
// (`setHeaders` for Anthropic, `setChatHeaders` for the chat API); every request is logged, with
// the model its body names.
import http from 'node:http'

/** Unified rate-limit headers: utilizations are 0–1 fractions, resets epoch seconds. */
export function anthropicUnifiedHeaders({ fiveHour = 0.42, sevenDay = 0.5, overage, status = 'allowed', claim = 'five_hour', now = Date.now() } = {}) {
  const s = (ms) => String(Math.floor((now + ms) / 1000))
  const h = {
    'anthropic-ratelimit-unified-status': status,
    'anthropic-ratelimit-unified-representative-claim': claim,
    'anthropic-ratelimit-unified-reset': s(2 * 3600_000),
    'anthropic-ratelimit-unified-5h-utilization': String(fiveHour),
    'anthropic-ratelimit-unified-5h-reset': s(2 * 3600_000),
    'anthropic-ratelimit-unified-7d-utilization': String(sevenDay),
    'anthropic-ratelimit-unified-7d-reset': s(3 * 86400_000),
  }
  if (overage) {
    h['anthropic-ratelimit-unified-overage-status'] = overage.status ?? 'allowed'
    h['anthropic-ratelimit-unified-overage-utilization'] = String(overage.utilization)
    const d = new Date(now)
    h['anthropic-ratelimit-unified-overage-reset'] = String(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / 1000)
    if (overage.disabledReason) h['anthropic-ratelimit-unified-overage-disabled-reason'] = overage.disabledReason
  }
  return h
}

function sse(events) {
  return events.map(([event, data]) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join('')
}

/** A complete Anthropic message stream that says `text`. */
export function anthropicStream(text, model = 'claude-test') {
  const id = `msg_${Math.random().toString(36).slice(2, 10)}`
  return sse([
    ['message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, output_tokens: 1 } } }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } }],
    ['message_stop', { type: 'message_stop' }],
  ])
}

/** A complete OpenAI chat-completion chunk stream that says `text`, ending with `[DONE]`. */
export function chatCompletionStream(text, model = 'chat-test') {
  const id = `chatcmpl-${Math.random().toString(36).slice(2, 10)}`
  const created = Math.floor(Date.now() / 1000)
  const chunk = (delta, finish, extra = {}) => ({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })
  return [
    chunk({ role: 'assistant', content: '' }, null),
    chunk({ content: text }, null),
    chunk({}, 'stop', { usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 } }),
  ]
    .map((c) => `data: ${JSON.stringify(c)}\n\n`)
    .join('') + 'data: [DONE]\n\n'
}

const CHAT_PATHS = new Set(['/openai/v1/chat/completions', '/v1/chat/completions'])

export async function startModelApi() {
  const requests = []
  let headers = () => anthropicUnifiedHeaders()
  let chatHeaders = () => ({})
  let reply = 'Hello from the loopback model.'
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      const url = new URL(req.url, 'http://127.0.0.1')
      let model // the model the call asked for, from the JSON body
      let validJson = true
      try {
        model = JSON.parse(body).model
      } catch {
        validJson = false
      }
      requests.push({ method: req.method, path: url.pathname, at: Date.now(), headers: { ...req.headers }, model })
      if (req.method === 'POST' && url.pathname === '/v1/messages') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers() })
        res.end(anthropicStream(reply))
        return
      }
      if (req.method === 'POST' && CHAT_PATHS.has(url.pathname)) {
        if (!validJson) {
          res.writeHead(400, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { message: 'invalid JSON body', type: 'invalid_request_error' } }))
          return
        }
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...chatHeaders() })
        res.end(chatCompletionStream(reply, model ?? 'chat-test'))
        return
      }
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'not found' } }))
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${server.address().port}`
  return {
    url,
    requests,
    /** The headers every following answer carries. */
    setHeaders(fn) {
      headers = typeof fn === 'function' ? fn : () => fn
    },
    /** The headers every following chat-completions answer carries. */
    setChatHeaders(fn) {
      chatHeaders = typeof fn === 'function' ? fn : () => fn
    },
    setReply(text) {
      reply = text
    },
    count: (path = '/v1/messages') => requests.filter((r) => r.path === path).length,
    close: () => new Promise((resolve) => server.close(resolve)),
  }
}
