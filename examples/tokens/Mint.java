// Mints an oachat user token (HS256 JWT) with the JDK only (javax.crypto), in one file.
// Usage: OACHAT_SIGNING_SECRET=... java Mint.java <sub> [name] [tier]
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class Mint {
    /** Short-lived: the widget asks for a new one when it expires. */
    static final long TTL_SECONDS = 600;

    public static String mintOachatToken(String sub, String name, String tier, String secret, long nowSeconds)
            throws Exception {
        StringBuilder claims = new StringBuilder("{\"sub\":").append(json(sub))
                .append(",\"exp\":").append(nowSeconds + TTL_SECONDS);
        if (name != null && !name.isEmpty()) claims.append(",\"name\":").append(json(name));
        if (tier != null && !tier.isEmpty()) claims.append(",\"tier\":").append(json(tier));
        claims.append('}');
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        String signingInput = b64.encodeToString("{\"alg\":\"HS256\",\"typ\":\"JWT\"}".getBytes(StandardCharsets.UTF_8))
                + "." + b64.encodeToString(claims.toString().getBytes(StandardCharsets.UTF_8));
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        byte[] signature = mac.doFinal(signingInput.getBytes(StandardCharsets.US_ASCII));
        return signingInput + "." + b64.encodeToString(signature);
    }

    /** A JSON string literal (the claims are plain strings; no JSON library needed). */
    static String json(String value) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : value.toCharArray()) {
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                default:
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
            }
        }
        return out.append('"').toString();
    }

    public static void main(String[] args) throws Exception {
        String secret = System.getenv("OACHAT_SIGNING_SECRET");
        if (args.length < 1 || secret == null || secret.isEmpty()) {
            System.err.println("usage: OACHAT_SIGNING_SECRET=... java Mint.java <sub> [name] [tier]");
            System.exit(2);
        }
        String name = args.length > 1 ? args[1] : null;
        String tier = args.length > 2 ? args[2] : null;
        System.out.println(mintOachatToken(args[0], name, tier, secret, System.currentTimeMillis() / 1000));
    }
}
