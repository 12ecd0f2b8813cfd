<?php
// Mints an oachat user token (HS256 JWT) in plain PHP: hash_hmac, no composer packages.
// Usage: OACHAT_SIGNING_SECRET=... php mint.php <sub> [name] [tier]

const OACHAT_TOKEN_TTL_SECONDS = 600; // short-lived: the widget asks for a new one when it expires

function oachat_b64url(string $data): string
{
    return rtrim(strtr(base64_encode($data), '+/', '-_'), '=');
}

function oachat_mint_token(string $sub, string $secret, ?string $name = null, ?string $tier = null, ?int $now = null): string
{
    $now = $now ?? time();
    $claims = ['sub' => $sub, 'exp' => $now + OACHAT_TOKEN_TTL_SECONDS];
    if ($name !== null && $name !== '') {
        $claims['name'] = $name;
    }
    if ($tier !== null && $tier !== '') {
        $claims['tier'] = $tier;
    }
    $flags = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES;
    $signingInput = oachat_b64url(json_encode(['alg' => 'HS256', 'typ' => 'JWT'], $flags))
        . '.' . oachat_b64url(json_encode($claims, $flags));
    $signature = hash_hmac('sha256', $signingInput, $secret, true);
    return $signingInput . '.' . oachat_b64url($signature);
}

if (PHP_SAPI === 'cli' && realpath($argv[0] ?? '') === __FILE__) {
    $secret = getenv('OACHAT_SIGNING_SECRET');
    if ($argc < 2 || $secret === false || $secret === '') {
        fwrite(STDERR, "usage: OACHAT_SIGNING_SECRET=... php mint.php <sub> [name] [tier]\n");
        exit(2);
    }
    echo oachat_mint_token($argv[1], $secret, $argv[2] ?? null, $argv[3] ?? null), "\n";
}
