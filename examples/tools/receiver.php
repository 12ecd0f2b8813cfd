<?php
// Receives oachat's server-tool webhooks in plain PHP: hash_hmac + hash_equals, no composer packages.
// In Hyperf: copy the functions and classes into your project and call them from a controller
// (README.md). Standalone dev server: OACHAT_TOOLS_SECRET=... php -S 127.0.0.1:8787 receiver.php

declare(strict_types=1);

const OACHAT_MAX_BODY_BYTES = 65536;             // the worker's tool calls are small; refuse anything bigger
const OACHAT_MAX_CLOCK_SKEW_SECONDS = 300;       // a captured request stops working after five minutes
const OACHAT_REPLAY_WINDOW_SECONDS = 600;        // remember delivery ids longer than the skew allows, both ways
const OACHAT_MAX_REMEMBERED_DELIVERIES = 10000;  // bounded memory; beyond this, refuse rather than forget

/** A refused delivery; the code is the HTTP status to answer. */
final class OachatWebhookException extends RuntimeException
{
}

/** Where delivery ids are remembered: remember() is false when the id was seen in the window. */
interface OachatDeliveryStore
{
    public function remember(string $deliveryId, int $now): bool;
}

/**
 * In memory, for a long-running process (a Hyperf/Swoole worker). Each worker process has its own
 * memory: with several workers, use a shared store such as Redis (README.md).
 */
final class OachatMemoryDeliveryStore implements OachatDeliveryStore
{
    /** @var array<string, int> delivery id => when seen, oldest first */
    private array $seen = [];

    public function remember(string $deliveryId, int $now): bool
    {
        $this->seen = oachat_forget_expired($this->seen, $now);
        if (isset($this->seen[$deliveryId])) {
            return false;
        }
        if (count($this->seen) >= OACHAT_MAX_REMEMBERED_DELIVERIES) {
            // Failing closed: forgetting an id early would let its request be replayed.
            throw new OachatWebhookException('too many deliveries', 503);
        }
        $this->seen[$deliveryId] = $now;
        return true;
    }
}

/** In a locked JSON file, for `php -S` and PHP-FPM, where every request starts with empty memory. */
final class OachatFileDeliveryStore implements OachatDeliveryStore
{
    public function __construct(private string $path)
    {
    }

    public function remember(string $deliveryId, int $now): bool
    {
        $file = fopen($this->path, 'c+');
        if ($file === false || !flock($file, LOCK_EX)) {
            throw new OachatWebhookException('delivery store unavailable', 503);
        }
        try {
            $seen = json_decode((string) stream_get_contents($file), true);
            $seen = oachat_forget_expired(is_array($seen) ? $seen : [], $now);
            $fresh = !isset($seen[$deliveryId]);
            if ($fresh && count($seen) >= OACHAT_MAX_REMEMBERED_DELIVERIES) {
                throw new OachatWebhookException('too many deliveries', 503);
            }
            if ($fresh) {
                $seen[$deliveryId] = $now;
            }
            ftruncate($file, 0);
            rewind($file);
            fwrite($file, json_encode($seen));
            return $fresh;
        } finally {
            flock($file, LOCK_UN);
            fclose($file);
        }
    }
}

/** @param array<string, int> $seen */
function oachat_forget_expired(array $seen, int $now): array
{
    return array_filter($seen, fn (int $seenAt) => $now - $seenAt < OACHAT_REPLAY_WINDOW_SECONDS);
}

/**
 * Verifies one delivery and returns its parsed payload, or throws OachatWebhookException whose
 * code is the HTTP status to answer. $rawBody is the exact bytes received, before any parsing.
 */
function oachat_verify_delivery(
    string $secret,
    string $rawBody,
    ?string $timestamp,
    ?string $deliveryHeader,
    ?string $signature,
    OachatDeliveryStore $store,
    ?int $now = null,
): array {
    $now = $now ?? time();
    if (strlen($rawBody) > OACHAT_MAX_BODY_BYTES) {
        throw new OachatWebhookException('body too large', 413);
    }

    // 1. The signature covers "<timestamp>.<body bytes>": compare in constant time.
    $timestamp = (string) $timestamp;
    if (preg_match('/^[0-9]{1,12}$/D', $timestamp) !== 1) {
        throw new OachatWebhookException('bad timestamp', 401);
    }
    $expected = 'v1=' . hash_hmac('sha256', $timestamp . '.' . $rawBody, $secret);
    if (!hash_equals($expected, (string) $signature)) {
        throw new OachatWebhookException('bad signature', 401);
    }

    // 2. Fresh: a stale (or far-future) timestamp is refused as unauthenticated, 401.
    if (abs($now - (int) $timestamp) > OACHAT_MAX_CLOCK_SKEW_SECONDS) {
        throw new OachatWebhookException('stale timestamp', 401);
    }

    // 3. The body is signed, the x-oachat-delivery header is not: take the id from the body
    //    and insist the header agrees, so a replay cannot pass by changing the header.
    try {
        $payload = json_decode($rawBody, true, 64, JSON_THROW_ON_ERROR);
    } catch (JsonException) {
        throw new OachatWebhookException('body is not JSON', 400);
    }
    if (!is_array($payload) || !is_string($payload['tool'] ?? null) || !is_string($payload['call_id'] ?? null)
        || !is_string($payload['request_id'] ?? null) || !is_string($payload['user']['sub'] ?? null)) {
        throw new OachatWebhookException('missing tool, call_id, request_id or user.sub', 400);
    }
    $deliveryId = $payload['request_id'] . ':' . $payload['call_id'];
    if ($deliveryHeader !== $deliveryId) {
        throw new OachatWebhookException('delivery id does not match the body', 401);
    }

    // 4. Once only.
    if (!$store->remember($deliveryId, $now)) {
        throw new OachatWebhookException('delivery already received', 409);
    }
    return $payload;
}

/**
 * Runs the tool a verified payload names. `user.sub` is who asked: the worker took it from the
 * user's token, so scope every lookup to it.
 */
function oachat_dispatch_tool(array $payload): array
{
    $arguments = $payload['arguments'] ?? null;
    switch ($payload['tool']) {
        case 'leave_balance':
            $year = is_array($arguments) && is_int($arguments['year'] ?? null) ? $arguments['year'] : (int) date('Y');
            return ['user' => $payload['user']['sub'], 'days' => 5, 'year' => $year]; // ask your OA here
        default:
            throw new OachatWebhookException('unknown tool ' . $payload['tool'], 404);
    }
}

// `php -S 127.0.0.1:8787 receiver.php` routes every request here.
if (PHP_SAPI === 'cli-server') {
    $answer = function (int $status, array $body): void {
        http_response_code($status);
        header('Content-Type: application/json');
        echo json_encode($body, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
    };
    $secret = getenv('OACHAT_TOOLS_SECRET');
    if ($secret === false || $secret === '') {
        $answer(500, ['error' => 'OACHAT_TOOLS_SECRET is not set']);
        return;
    }
    if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
        $answer(405, ['error' => 'POST only']);
        return;
    }
    if ((int) ($_SERVER['CONTENT_LENGTH'] ?? 0) > OACHAT_MAX_BODY_BYTES) {
        $answer(413, ['error' => 'body too large']);
        return;
    }
    // One file per port, so two dev servers on one machine keep their own deliveries.
    $store = new OachatFileDeliveryStore(sys_get_temp_dir() . '/oachat-deliveries-' . $_SERVER['SERVER_PORT'] . '.json');
    try {
        $payload = oachat_verify_delivery(
            $secret,
            (string) file_get_contents('php://input', false, null, 0, OACHAT_MAX_BODY_BYTES + 1),
            $_SERVER['HTTP_X_OACHAT_TIMESTAMP'] ?? null,
            $_SERVER['HTTP_X_OACHAT_DELIVERY'] ?? null,
            $_SERVER['HTTP_X_OACHAT_SIGNATURE'] ?? null,
            $store,
        );
        $answer(200, oachat_dispatch_tool($payload));
    } catch (OachatWebhookException $error) {
        $answer($error->getCode(), ['error' => $error->getMessage()]);
    }
}
