// Receives oachat's server-tool webhooks with the JDK only (com.sun.net.httpserver, javax.crypto).
// Usage: OACHAT_TOOLS_SECRET=... PORT=8787 java Receiver.java   (Java 17+, single-file launch)
// Every check runs before the tool does; see README.md for the request format. The JDK has no
// JSON library, so a small reader is at the bottom: in a real project use Jackson or Gson.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Year;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class Receiver {
    static final int MAX_BODY_BYTES = 64 * 1024; // the worker's tool calls are small; refuse anything bigger
    static final long MAX_CLOCK_SKEW_SECONDS = 300; // a captured request stops working after five minutes
    static final long REPLAY_WINDOW_SECONDS = 600; // remember delivery ids longer than the skew allows, both ways
    static final int MAX_REMEMBERED_DELIVERIES = 10_000; // bounded memory; beyond this, refuse rather than forget

    /** A refused delivery, with the HTTP status to answer. */
    static class WebhookException extends Exception {
        final int status;

        WebhookException(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    /** Delivery id -> when it was seen (seconds), oldest first. Guarded by its own lock. */
    static final LinkedHashMap<String, Long> seenDeliveries = new LinkedHashMap<>();

    static void rememberDelivery(String deliveryId, long now) throws WebhookException {
        synchronized (seenDeliveries) {
            Iterator<Long> oldestFirst = seenDeliveries.values().iterator();
            while (oldestFirst.hasNext() && now - oldestFirst.next() >= REPLAY_WINDOW_SECONDS) oldestFirst.remove();
            if (seenDeliveries.containsKey(deliveryId)) throw new WebhookException(409, "delivery already received");
            // Failing closed: forgetting an id early would let its request be replayed.
            if (seenDeliveries.size() >= MAX_REMEMBERED_DELIVERIES) throw new WebhookException(503, "too many deliveries");
            seenDeliveries.put(deliveryId, now);
        }
    }

    /**
     * Verifies one delivery and returns its parsed payload, or throws with the status to answer.
     * rawBody is the exact bytes received, before any JSON parsing.
     */
    static Map<String, Object> verifyDelivery(String secret, String timestamp, String deliveryHeader,
            String signature, byte[] rawBody, long now) throws Exception {
        if (rawBody.length > MAX_BODY_BYTES) throw new WebhookException(413, "body too large");

        // 1. The signature covers "<timestamp>.<body bytes>": compare in constant time.
        if (timestamp == null || !timestamp.matches("[0-9]{1,12}")) throw new WebhookException(401, "bad timestamp");
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        mac.update((timestamp + ".").getBytes(StandardCharsets.US_ASCII));
        byte[] expected = ("v1=" + HexFormat.of().formatHex(mac.doFinal(rawBody))).getBytes(StandardCharsets.US_ASCII);
        byte[] given = (signature == null ? "" : signature).getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(expected, given)) throw new WebhookException(401, "bad signature");

        // 2. Fresh: a stale (or far-future) timestamp is refused as unauthenticated, 401.
        if (Math.abs(now - Long.parseLong(timestamp)) > MAX_CLOCK_SKEW_SECONDS) {
            throw new WebhookException(401, "stale timestamp");
        }

        // 3. The body is signed, the x-oachat-delivery header is not: take the id from the body
        //    and insist the header agrees, so a replay cannot pass by changing the header.
        Object parsed;
        try {
            parsed = new JsonReader(new String(rawBody, StandardCharsets.UTF_8)).readDocument();
        } catch (IllegalArgumentException notJson) {
            throw new WebhookException(400, "body is not JSON");
        }
        if (!(parsed instanceof Map<?, ?> map) || !(map.get("tool") instanceof String)
                || !(map.get("call_id") instanceof String) || !(map.get("request_id") instanceof String)
                || !(map.get("user") instanceof Map<?, ?> user) || !(user.get("sub") instanceof String)) {
            throw new WebhookException(400, "missing tool, call_id, request_id or user.sub");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> payload = (Map<String, Object>) parsed;
        String deliveryId = payload.get("request_id") + ":" + payload.get("call_id");
        if (!deliveryId.equals(deliveryHeader)) throw new WebhookException(401, "delivery id does not match the body");

        // 4. Once only.
        rememberDelivery(deliveryId, now);
        return payload;
    }

    /**
     * Runs the tool a verified payload names and returns its answer as JSON. `user.sub` is who
     * asked: the worker took it from the user's token, so scope every lookup to it.
     */
    static String dispatch(Map<String, Object> payload) throws WebhookException {
        String sub = (String) ((Map<?, ?>) payload.get("user")).get("sub");
        switch ((String) payload.get("tool")) {
            case "leave_balance": {
                Object year = payload.get("arguments") instanceof Map<?, ?> args ? args.get("year") : null;
                long answerYear = year instanceof Long y ? y : Year.now().getValue();
                // Ask your OA here.
                return "{\"user\":" + jsonString(sub) + ",\"days\":5,\"year\":" + answerYear + "}";
            }
            default:
                throw new WebhookException(404, "unknown tool");
        }
    }

    static void handle(HttpExchange exchange, String secret) throws IOException {
        int status = 200;
        String body;
        try {
            if (!"POST".equals(exchange.getRequestMethod())) throw new WebhookException(405, "POST only");
            byte[] raw;
            try (InputStream in = exchange.getRequestBody()) {
                raw = in.readNBytes(MAX_BODY_BYTES + 1); // one byte more tells "too large" apart
            }
            var headers = exchange.getRequestHeaders(); // case-insensitive names
            Map<String, Object> payload = verifyDelivery(secret, headers.getFirst("x-oachat-timestamp"),
                    headers.getFirst("x-oachat-delivery"), headers.getFirst("x-oachat-signature"), raw,
                    System.currentTimeMillis() / 1000);
            body = dispatch(payload);
        } catch (WebhookException refused) {
            status = refused.status;
            body = "{\"error\":" + jsonString(refused.getMessage()) + "}";
        } catch (Exception unexpected) {
            // Never echo internals: the status is enough for the worker's log.
            unexpected.printStackTrace();
            status = 500;
            body = "{\"error\":\"internal error\"}";
        }
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (var out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    public static void main(String[] args) throws IOException {
        String secret = System.getenv("OACHAT_TOOLS_SECRET");
        if (secret == null || secret.isEmpty()) {
            System.err.println("usage: OACHAT_TOOLS_SECRET=... PORT=8787 java Receiver.java");
            System.exit(2);
        }
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8787"));
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        server.createContext("/", exchange -> handle(exchange, secret));
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.start();
        System.out.println("oachat tool receiver on http://127.0.0.1:" + port);
    }

    /** A JSON string literal. */
    static String jsonString(String value) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : value.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }

    /**
     * A small strict JSON reader: objects become LinkedHashMap, arrays ArrayList, integers Long,
     * other numbers Double. Throws IllegalArgumentException on anything that is not JSON.
     */
    static final class JsonReader {
        private final String text;
        private int at;
        private int depth;

        JsonReader(String text) {
            this.text = text;
        }

        Object readDocument() {
            Object value = readValue();
            skipSpace();
            if (at != text.length()) throw fail();
            return value;
        }

        private Object readValue() {
            skipSpace();
            if (at >= text.length()) throw fail();
            char c = text.charAt(at);
            if (c == '{' || c == '[') {
                if (++depth > 64) throw fail(); // deep nesting would only exhaust the stack
                Object nested = c == '{' ? readObject() : readArray();
                depth--;
                return nested;
            }
            if (c == '"') return readString();
            if (text.startsWith("true", at)) { at += 4; return Boolean.TRUE; }
            if (text.startsWith("false", at)) { at += 5; return Boolean.FALSE; }
            if (text.startsWith("null", at)) { at += 4; return null; }
            return readNumber();
        }

        private Map<String, Object> readObject() {
            Map<String, Object> map = new LinkedHashMap<>();
            at++;
            skipSpace();
            if (peek() == '}') { at++; return map; }
            for (;;) {
                skipSpace();
                if (peek() != '"') throw fail();
                String key = readString();
                skipSpace();
                expect(':');
                map.put(key, readValue());
                skipSpace();
                if (peek() == '}') { at++; return map; }
                expect(',');
            }
        }

        private List<Object> readArray() {
            List<Object> list = new ArrayList<>();
            at++;
            skipSpace();
            if (peek() == ']') { at++; return list; }
            for (;;) {
                list.add(readValue());
                skipSpace();
                if (peek() == ']') { at++; return list; }
                expect(',');
            }
        }

        private String readString() {
            StringBuilder out = new StringBuilder();
            at++; // the opening quote
            for (;;) {
                if (at >= text.length()) throw fail();
                char c = text.charAt(at++);
                if (c == '"') return out.toString();
                if (c < 0x20) throw fail();
                if (c != '\\') { out.append(c); continue; }
                if (at >= text.length()) throw fail();
                char escaped = text.charAt(at++);
                switch (escaped) {
                    case '"', '\\', '/' -> out.append(escaped);
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case 'n' -> out.append('\n');
                    case 'r' -> out.append('\r');
                    case 't' -> out.append('\t');
                    case 'u' -> {
                        if (at + 4 > text.length()) throw fail();
                        try {
                            out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                        } catch (NumberFormatException bad) {
                            throw fail();
                        }
                        at += 4;
                    }
                    default -> throw fail();
                }
            }
        }

        private Object readNumber() {
            int start = at;
            while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) at++;
            String number = text.substring(start, at);
            if (!number.matches("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?")) throw fail();
            if (number.matches("-?[0-9]{1,18}")) return Long.parseLong(number);
            return Double.parseDouble(number);
        }

        private void skipSpace() {
            while (at < text.length() && " \t\r\n".indexOf(text.charAt(at)) >= 0) at++;
        }

        private char peek() {
            if (at >= text.length()) throw fail();
            return text.charAt(at);
        }

        private void expect(char c) {
            if (peek() != c) throw fail();
            at++;
        }

        private IllegalArgumentException fail() {
            return new IllegalArgumentException("not JSON at " + at);
        }
    }
}
