package io.notify.examples;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.logging.Level;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.apicurio.registry.serde.Default4ByteIdHandler;
import io.apicurio.registry.serde.avro.AvroKafkaSerializer;
import io.apicurio.registry.serde.strategy.TopicIdStrategy;

/**
 * Publishes NotificationRequest records to notify.requests through the schema registry, the way a
 * Java service would: Kafka's own client and Apicurio Registry's Avro serializer.
 *
 * <p>The records are the ones docs/examples/python/producer.py writes: the key is the text
 * {@code <tenant>:<user_id>}; the value is Avro in the Confluent framing (byte 00, the schema's id
 * as 4 big-endian bytes, the binary datum); no headers. The serializer is configured for exactly
 * that framing and only looks the writer schema up under the subject {@code <topic>-value}: it never
 * registers a schema. Before the first record is sent, the id it framed the record with is compared
 * with the id the registry's Confluent-compatible API gives for the same schema under the same
 * subject, the id the router resolves.
 *
 * <p>Prints one JSON line per record on stdout (event_id, key, topic, partition, offset, schema_id,
 * error) and a summary on stderr. Exits 0 when the broker acknowledged every record, 1 when any
 * record failed, 2 when nothing could be sent (bad arguments, the writer schema not registered, the
 * registry unreachable).
 */
public final class NotifyProducer {

    static final String[] CHANNELS = {"APNS", "FCM", "WEBPUSH", "SMS", "EMAIL"};
    static final String[] PRIORITIES = {"CRITICAL", "HIGH", "NORMAL", "BULK"};

    /**
     * The event id the HTTP gateway gives a request with an Idempotency-Key is a UUIDv5, in this
     * namespace, of the tenant's length (8 bytes, big-endian), the tenant and the key.
     */
    static final UUID IDEMPOTENT_EVENT_NAMESPACE = UUID.fromString("5f0e8a8e-41c4-4d0b-9a7e-1c2f6e63a7d1");

    static final String BUNDLED_SCHEMA = "/schemas/notification_request.avsc";

    static final ObjectMapper JSON = new ObjectMapper();

    // held here: java.util.logging keeps its loggers only weakly, and with them their levels
    static final java.util.logging.Logger JUL_ROOT = java.util.logging.Logger.getLogger("");
    static final java.util.logging.Logger JUL_APICURIO = java.util.logging.Logger.getLogger("io.apicurio");

    /** Exit code 2: nothing was sent. */
    static final class Fatal extends RuntimeException {
        Fatal(String message) {
            super(message);
        }
    }

    public static void main(String[] argv) {
        // Quiet libraries: kafka-clients logs through slf4j-simple, the registry client through
        // java.util.logging (at INFO it would print the whole schema on every lookup).
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        // The serializer's cache logs a failed lookup with a stack trace; this program says what
        // failed itself, once.
        System.setProperty("org.slf4j.simpleLogger.log.io.apicurio", "off");
        // A broker that cannot be reached would be logged on every reconnect; the records' lines
        // say which failed and why.
        System.setProperty("org.slf4j.simpleLogger.log.org.apache.kafka", "error");
        JUL_ROOT.setLevel(Level.WARNING);
        JUL_APICURIO.setLevel(Level.SEVERE);
        int code;
        try {
            code = run(Args.parse(argv));
        } catch (Args.Usage usage) {
            if (usage.getMessage() == null) {
                System.out.print(Args.HELP);
                code = 0;
            } else {
                System.err.print(Args.USAGE);
                System.err.println("NotifyProducer: error: " + usage.getMessage());
                code = 2;
            }
        } catch (Fatal fatal) {
            System.err.println("NotifyProducer: " + fatal.getMessage());
            code = 2;
        }
        System.out.flush();
        System.err.flush();
        // The registry client keeps non-daemon (Vert.x) threads: leave explicitly.
        System.exit(code);
    }

    static int run(Args args) {
        String schemaText = readSchema(args.schemaFile);
        Schema schema;
        try {
            schema = new Schema.Parser().parse(schemaText);
        } catch (RuntimeException err) {
            throw new Fatal("cannot parse the writer schema " + schemaName(args) + ": " + err.getMessage());
        }
        String subject = args.topic + "-value";
        Registry registry = Registry.of(args.registry);

        Map<String, Object> serdeConfig = new HashMap<>();
        // The registry's own (v3) API: the serializer searches it for the writer schema.
        serdeConfig.put("apicurio.registry.url", registry.nativeUrl);
        // The platform owns the subjects (`notify schemas register`); a producer only looks its
        // writer schema up, by content, among the versions of the subject. Not the latest version
        // either: the datum is written with the schema it is framed with.
        serdeConfig.put("apicurio.registry.auto-register", false);
        serdeConfig.put("apicurio.registry.find-latest", false);
        // Compare schemas in their canonical form: the registered text and the serializer's text
        // of the same schema differ in whitespace and key order.
        serdeConfig.put("apicurio.registry.canonicalize", true);
        // Search with the whole schema as one text, the way it is registered. Without this the
        // serializer splits every named type (the enums, the nested records) into a schema of its
        // own referenced by name, and its search text matches no registered version.
        serdeConfig.put("apicurio.registry.dereference-schema", true);
        // Topic-name strategy: artifact <topic>-value in the group "default", which is where the
        // Confluent-compatible API keeps the subject <topic>-value.
        serdeConfig.put("apicurio.registry.artifact-resolver-strategy", TopicIdStrategy.class.getName());
        // Confluent framing: magic byte 0, then a 4-byte id, and the id the Confluent-compatible
        // API hands out. Apicurio Registry 3 gives its contentId there (unless the server runs in
        // its legacy id mode, which exposes the globalId: --use-id globalId).
        serdeConfig.put("apicurio.registry.id-handler", Default4ByteIdHandler.class.getName());
        serdeConfig.put("apicurio.registry.use-id", args.useId);
        // The id travels in the value, not in Kafka headers.
        serdeConfig.put("apicurio.registry.headers.enabled", false);
        serdeConfig.put("apicurio.registry.avro.encoding", "BINARY");

        List<Map<String, Object>> results = new ArrayList<>();
        long nowMs = System.currentTimeMillis();
        Integer schemaId = null;

        try (AvroKafkaSerializer<GenericRecord> serializer = new AvroKafkaSerializer<>()) {
            serializer.configure(serdeConfig, false);
            KafkaProducer<String, byte[]> producer = null;
            try {
                for (int i = 0; i < args.count; i++) {
                    GenericRecord request;
                    try {
                        request = buildRequest(schema, args, i, nowMs);
                    } catch (RuntimeException err) {
                        throw new Fatal("record " + i + " does not fit the writer schema " + schemaName(args)
                                + ": " + describe(err));
                    }
                    String key = request.get("tenant") + ":" + request.get("user_id");
                    byte[] value;
                    try {
                        value = serializer.serialize(args.topic, request);
                    } catch (RuntimeException err) {
                        if (i > 0) {
                            throw new Fatal("record " + i + " could not be serialized: " + describe(err));
                        }
                        throw explainFirstFailure(err, args, registry, subject, schemaText);
                    }
                    if (schemaId == null) {
                        schemaId = checkFraming(value, args, registry, subject, schemaText);
                        System.err.printf("writer schema %s from %s is id %d under subject %s%n",
                                schema.getFullName(), schemaName(args), schemaId, subject);
                        try {
                            producer = new KafkaProducer<>(producerConfig(args), new StringSerializer(),
                                    new ByteArraySerializer());
                        } catch (KafkaException err) {
                            throw new Fatal("cannot create the Kafka producer for " + args.bootstrap + ": "
                                    + describe(err));
                        }
                    }
                    Map<String, Object> result = new LinkedHashMap<>();
                    result.put("event_id", request.get("event_id").toString());
                    result.put("key", key);
                    result.put("topic", args.topic);
                    result.put("partition", null);
                    result.put("offset", null);
                    result.put("schema_id", schemaId);
                    result.put("error", "no delivery report");
                    results.add(result);
                    try {
                        producer.send(new ProducerRecord<>(args.topic, key, value), (metadata, exception) -> {
                            synchronized (result) {
                                if (exception != null) {
                                    result.put("error", describe(exception));
                                } else {
                                    result.put("partition", metadata.partition());
                                    result.put("offset", metadata.offset());
                                    result.put("error", null);
                                }
                            }
                        });
                    } catch (RuntimeException err) {
                        // send() itself refused (metadata not available in time, record too large)
                        synchronized (result) {
                            result.put("error", describe(err));
                        }
                    }
                }
                producer.flush();
            } finally {
                if (producer != null) {
                    producer.close(Duration.ofSeconds(5));
                }
            }
        }

        int failed = 0;
        for (Map<String, Object> result : results) {
            synchronized (result) {
                if (result.get("error") != null) {
                    failed++;
                }
                System.out.println(toJson(result));
            }
        }
        System.out.flush();
        System.err.printf("%d of %d records acknowledged on %s (schema id %d, subject %s); %d failed%n",
                results.size() - failed, results.size(), args.topic, schemaId, subject, failed);
        return failed == 0 ? 0 : 1;
    }

    static Map<String, Object> producerConfig(Args args) {
        long timeoutMs = Math.round(args.timeoutS * 1000);
        int lingerMs = 5;
        Map<String, Object> config = new HashMap<>();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args.bootstrap);
        // the same guarantees the platform's own producers use
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        config.put(ProducerConfig.LINGER_MS_CONFIG, lingerMs);
        config.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        // how long a record may wait for its acknowledgement, retries included
        int requestTimeoutMs = (int) Math.max(1, Math.min(30_000, timeoutMs - lingerMs));
        config.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, requestTimeoutMs);
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) Math.max(timeoutMs, lingerMs + requestTimeoutMs));
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, timeoutMs);
        // the Java client's default partitioner (murmur2 of the key) is the one the gateway and
        // `notify produce` use: one key, one partition, whichever of them published the record
        // (see docs/producers.md)
        config.put(ProducerConfig.CLIENT_ID_CONFIG, "notify-java-producer");
        return config;
    }

    // ---- the schema id -------------------------------------------------------------------------

    /**
     * Checks that the serializer wrote the Confluent framing and that its id is the one the
     * Confluent-compatible API gives for this schema under the subject; returns the id.
     */
    static int checkFraming(byte[] value, Args args, Registry registry, String subject, String schemaText) {
        if (value.length < 5 || value[0] != 0) {
            throw new Fatal(String.format("the serializer wrote magic byte 0x%02x, not the Confluent framing 0x00",
                    value.length == 0 ? 0 : value[0] & 0xff));
        }
        int id = ByteBuffer.wrap(value, 1, 4).getInt();
        if (args.skipIdCheck) {
            return id;
        }
        Lookup lookup = registry.lookup(subject, schemaText, args.timeoutS);
        if (lookup.unreachable != null) {
            throw new Fatal("schema registry at " + registry.ccompatUrl + " unreachable: " + lookup.unreachable);
        }
        if (lookup.id == null) {
            throw new Fatal("the serializer found the writer schema " + schemaName(args) + " (id " + id
                    + ") but the registry's Confluent-compatible API does not know it under subject "
                    + subject + " (" + lookup.message + ")");
        }
        if (lookup.id != id) {
            String hint = "contentId".equals(args.useId)
                    ? "if the registry runs in Apicurio's legacy id mode (globalIds on its Confluent-compatible "
                            + "API), run with --use-id globalId"
                    : "Apicurio Registry 3 gives contentIds there unless it runs in its legacy id mode: run "
                            + "without --use-id globalId";
            throw new Fatal("the serializer framed the record with " + args.useId + " " + id
                    + ", but the registry's Confluent-compatible API gives id " + lookup.id + " for the schema under "
                    + subject + ": the router would read another schema; " + hint);
        }
        return id;
    }

    /** Turns the serializer's failure on the first record into a message that says what to do. */
    static Fatal explainFirstFailure(RuntimeException err, Args args, Registry registry, String subject,
            String schemaText) {
        Lookup lookup = registry.lookup(subject, schemaText, args.timeoutS);
        if (lookup.unreachable != null) {
            return new Fatal("schema registry at " + registry.nativeUrl + " unreachable: " + lookup.unreachable);
        }
        if (lookup.id == null && lookup.status == 404) {
            return new Fatal("the writer schema " + schemaName(args) + " is not registered under subject "
                    + subject + " (registry: " + lookup.message + "); schemas are registered by the platform "
                    + "(notify schemas register), not by producers");
        }
        if (lookup.id == null) {
            return new Fatal("schema registry error for subject " + subject + ": " + lookup.message
                    + " (serializer: " + describe(err) + ")");
        }
        return new Fatal("record 0 could not be serialized, although the writer schema " + schemaName(args)
                + " is registered under subject " + subject + " (id " + lookup.id + "): " + describe(err));
    }

    /** The answer of POST /subjects/{subject} on the Confluent-compatible API. */
    static final class Lookup {
        Integer id;
        int status;
        String message;
        String unreachable;
    }

    /** Where the registry's two APIs are, from one URL given on the command line. */
    static final class Registry {
        final String nativeUrl;
        final String ccompatUrl;
        private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

        private Registry(String nativeUrl, String ccompatUrl) {
            this.nativeUrl = nativeUrl;
            this.ccompatUrl = ccompatUrl;
        }

        /**
         * Accepts the Confluent-compatible URL (http://host:port/apis/ccompat/v7, what the Python
         * example takes), the native one (.../apis/registry/v3) or the registry's base URL.
         */
        static Registry of(String given) {
            String base = given.replaceAll("/+$", "")
                    .replaceFirst("/apis/(ccompat/v[0-9]+|registry/v3)$", "");
            return new Registry(base + "/apis/registry/v3", base + "/apis/ccompat/v7");
        }

        Lookup lookup(String subject, String schemaText, double timeoutS) {
            Lookup lookup = new Lookup();
            try {
                String body = JSON.writeValueAsString(Map.of("schema", schemaText));
                HttpRequest request = HttpRequest.newBuilder()
                        .uri(URI.create(ccompatUrl + "/subjects/" + URLEncoder.encode(subject, StandardCharsets.UTF_8)))
                        .timeout(Duration.ofMillis(Math.round(timeoutS * 1000)))
                        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                        .header("Accept", "application/vnd.schemaregistry.v1+json, application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
                        .build();
                HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
                lookup.status = response.statusCode();
                JsonNode answer = null;
                try {
                    answer = JSON.readTree(response.body());
                } catch (IOException notJson) {
                    // keep the text
                }
                if (lookup.status == 200 && answer != null && answer.path("id").canConvertToInt()) {
                    lookup.id = answer.path("id").asInt();
                } else if (answer != null && answer.has("message")) {
                    lookup.message = "HTTP " + lookup.status + ", error " + answer.path("error_code").asText("?")
                            + ": " + answer.path("message").asText();
                } else {
                    lookup.message = "HTTP " + lookup.status + ": " + truncate(response.body(), 300);
                }
                if (lookup.status >= 500) {
                    lookup.unreachable = lookup.message;
                }
            } catch (IOException err) {
                lookup.unreachable = err.getClass().getSimpleName() + (err.getMessage() == null ? "" : ": " + err.getMessage());
            } catch (InterruptedException err) {
                Thread.currentThread().interrupt();
                lookup.unreachable = "interrupted";
            }
            return lookup;
        }
    }

    // ---- the records ---------------------------------------------------------------------------

    static String readSchema(Path file) {
        try {
            if (file != null) {
                return Files.readString(file, StandardCharsets.UTF_8);
            }
            try (InputStream in = NotifyProducer.class.getResourceAsStream(BUNDLED_SCHEMA)) {
                if (in == null) {
                    throw new Fatal("the jar has no " + BUNDLED_SCHEMA + "; give the writer schema with --schema FILE");
                }
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
        } catch (IOException err) {
            throw new Fatal("cannot read the writer schema " + file + ": " + err.getMessage());
        }
    }

    static String schemaName(Args args) {
        return args.schemaFile != null ? args.schemaFile.toString() : "notification_request.avsc (built into the jar)";
    }

    static String eventIdForKey(String tenant, String key) {
        byte[] t = tenant.getBytes(StandardCharsets.UTF_8);
        byte[] k = key.getBytes(StandardCharsets.UTF_8);
        ByteBuffer name = ByteBuffer.allocate(16 + 8 + t.length + k.length);
        name.putLong(IDEMPOTENT_EVENT_NAMESPACE.getMostSignificantBits());
        name.putLong(IDEMPOTENT_EVENT_NAMESPACE.getLeastSignificantBits());
        name.putLong(t.length).put(t).put(k);
        byte[] digest;
        try {
            digest = MessageDigest.getInstance("SHA-1").digest(name.array());
        } catch (NoSuchAlgorithmException err) {
            throw new IllegalStateException(err);
        }
        digest[6] = (byte) ((digest[6] & 0x0f) | 0x50); // version 5
        digest[8] = (byte) ((digest[8] & 0x3f) | 0x80); // RFC 4122 variant
        ByteBuffer bits = ByteBuffer.wrap(digest, 0, 16);
        return new UUID(bits.getLong(), bits.getLong()).toString();
    }

    /** The i-th record, an io.notify.v1.NotificationRequest. */
    static GenericRecord buildRequest(Schema schema, Args args, int i, long nowMs) {
        String user = args.users.get(i % args.users.size());
        String idempotencyKey = null;
        String eventId;
        if (args.idPrefix != null) {
            idempotencyKey = args.idPrefix + "-" + i;
            eventId = eventIdForKey(args.tenant, idempotencyKey);
        } else {
            eventId = UUID.randomUUID().toString();
        }
        GenericRecord r = new GenericData.Record(schema);
        put(r, "tenant", args.tenant);
        put(r, "event_id", eventId);
        put(r, "idempotency_key", idempotencyKey);
        put(r, "user_id", user);
        put(r, "category", args.category);
        put(r, "priority", new GenericData.EnumSymbol(schema.getField("priority").schema(), args.priority));
        Schema channelsSchema = schema.getField("channels").schema();
        List<GenericData.EnumSymbol> channels = new ArrayList<>();
        for (String channel : args.channels) {
            channels.add(new GenericData.EnumSymbol(channelsSchema.getElementType(), channel));
        }
        put(r, "channels", new GenericData.Array<>(channelsSchema, channels));
        if (args.template != null) {
            GenericRecord template = new GenericData.Record(recordBranch(schema.getField("template").schema()));
            put(template, "template_id", args.template);
            put(template, "params", new LinkedHashMap<>(args.params));
            put(r, "template", template);
        }
        put(r, "content", inlineContent(recordBranch(schema.getField("content").schema()), args, i));
        put(r, "locale", args.locale);
        put(r, "send_at", args.sendInS != null ? nowMs + args.sendInS * 1000L : null);
        put(r, "expires_at", args.expiresInS != null ? nowMs + args.expiresInS * 1000L : null);
        put(r, "created_at", nowMs);
        put(r, "trace", null);
        return r;
    }

    /**
     * Inline content from the arguments; with neither a template nor any inline part, a small text
     * for every channel family, so the record is deliverable on whatever the user has.
     */
    static GenericRecord inlineContent(Schema content, Args args, int i) {
        boolean given = args.pushTitle != null || args.pushBody != null || args.smsText != null
                || args.emailSubject != null || args.emailText != null;
        if (!given && args.template != null) {
            return null;
        }
        Schema pushSchema = recordBranch(content.getField("push").schema());
        Schema smsSchema = recordBranch(content.getField("sms").schema());
        Schema emailSchema = recordBranch(content.getField("email").schema());
        GenericRecord c = new GenericData.Record(content);
        if (!given) {
            String text = "Test notification " + (i + 1) + " from NotifyProducer";
            put(c, "push", push(pushSchema, "Test notification", text));
            put(c, "sms", sms(smsSchema, text));
            put(c, "email", email(emailSchema, "Test notification", text));
            return c;
        }
        if (args.pushTitle != null || args.pushBody != null) {
            put(c, "push", push(pushSchema, orEmpty(args.pushTitle), orEmpty(args.pushBody)));
        }
        if (args.smsText != null) {
            put(c, "sms", sms(smsSchema, args.smsText));
        }
        if (args.emailSubject != null || args.emailText != null) {
            put(c, "email", email(emailSchema, orEmpty(args.emailSubject), args.emailText));
        }
        return c;
    }

    static GenericRecord push(Schema s, String title, String body) {
        GenericRecord p = new GenericData.Record(s);
        put(p, "title", title);
        put(p, "body", body);
        put(p, "data", new LinkedHashMap<String, String>());
        put(p, "image_url", null);
        put(p, "click_url", null);
        put(p, "sound", null);
        put(p, "badge", null);
        return p;
    }

    static GenericRecord sms(Schema s, String text) {
        GenericRecord m = new GenericData.Record(s);
        put(m, "text", text);
        return m;
    }

    static GenericRecord email(Schema s, String subject, String text) {
        GenericRecord e = new GenericData.Record(s);
        put(e, "subject", subject);
        put(e, "html", null);
        put(e, "text", text);
        return e;
    }

    /**
     * Sets a field if the writer schema has it: an older version given with --schema may lack a
     * field this program knows (a field it lacks that is required fails in the serializer).
     */
    static void put(GenericRecord record, String field, Object value) {
        if (record.getSchema().getField(field) != null) {
            record.put(field, value);
        } else if (value != null) {
            throw new IllegalArgumentException("the writer schema " + record.getSchema().getFullName()
                    + " has no field " + field);
        }
    }

    /** The record branch of a ["null", record] union. */
    static Schema recordBranch(Schema union) {
        for (Schema branch : union.getTypes()) {
            if (branch.getType() == Schema.Type.RECORD) {
                return branch;
            }
        }
        throw new IllegalArgumentException("no record branch in " + union);
    }

    static String orEmpty(String s) {
        return s == null ? "" : s;
    }

    // ---- output --------------------------------------------------------------------------------

    static String toJson(Map<String, Object> result) {
        try {
            return JSON.writeValueAsString(result);
        } catch (IOException err) {
            throw new IllegalStateException(err);
        }
    }

    static String describe(Throwable err) {
        StringBuilder text = new StringBuilder();
        Set<Throwable> seen = new LinkedHashSet<>();
        for (Throwable t = err; t != null && seen.add(t); t = t.getCause()) {
            if (text.length() > 0) {
                text.append(": ");
            }
            text.append(t.getClass().getSimpleName());
            if (t.getMessage() != null) {
                text.append(" ").append(truncate(t.getMessage(), 300));
            }
        }
        return text.toString();
    }

    static String truncate(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max) + "...";
    }

    // ---- arguments -----------------------------------------------------------------------------

    static final class Args {
        static final String USAGE = "usage: NotifyProducer --registry URL --tenant T --user U [--user U ...] "
                + "--category C [options]\n";
        static final String HELP = USAGE + """

                Publish NotificationRequest records to notify.requests through the schema registry
                (Confluent framing, key <tenant>:<user_id>); the writer schema is only looked up under
                the subject <topic>-value, never registered.

                where:
                  --bootstrap SERVERS   Kafka bootstrap servers (default 127.0.0.1:9092)
                  --registry URL        the registry: its Confluent-compatible API
                                        (http://HOST:PORT/apis/ccompat/v7), its v3 API
                                        (.../apis/registry/v3) or its base URL
                  --topic TOPIC         default notify.requests; the subject is <topic>-value
                  --schema FILE         writer schema (.avsc), registered under the subject
                                        (default: notification_request.avsc built into the jar)
                  --timeout-s SECONDS   how long a record may wait for its acknowledgement (default 30)
                  --use-id contentId|globalId
                                        which registry id the 4 bytes carry (default contentId, the
                                        id Apicurio Registry 3's Confluent-compatible API gives)
                  --skip-id-check       do not compare that id with the Confluent-compatible API's

                the notification:
                  --tenant T            (required)
                  --user U              user id, repeat to rotate the records over several users
                  --category C          notification type the user's preferences refer to
                  --priority P          CRITICAL, HIGH, NORMAL (default) or BULK
                  --channel CH          APNS, FCM, WEBPUSH, SMS or EMAIL; repeat for several;
                                        none means every channel the user has
                  --template ID         template id; --param NAME=VALUE for its variables
                  --param NAME=VALUE
                  --push-title T, --push-body B, --sms-text T, --email-subject S, --email-text T
                  --locale TAG          BCP 47 tag overriding the user's locale
                  --send-in-s N         deliver no earlier than N seconds from now
                  --expires-in-s N      drop (EXPIRED) if not delivered within N seconds

                how many:
                  --count N             records to publish (default 1)
                  --id-prefix P         deterministic ids: record i gets idempotency key P-i and the
                                        event id the gateway derives from (tenant, key)

                stdout: one JSON line per record (event_id, key, topic, partition, offset, schema_id,
                error). Exit 0: every record acknowledged; 1: some failed; 2: nothing sent.
                """;

        static final class Usage extends RuntimeException {
            Usage(String message) {
                super(message);
            }
        }

        String bootstrap = "127.0.0.1:9092";
        String registry;
        String topic = "notify.requests";
        Path schemaFile;
        double timeoutS = 30.0;
        String useId = "contentId";
        boolean skipIdCheck;
        String tenant;
        List<String> users = new ArrayList<>();
        String category;
        String priority = "NORMAL";
        Set<String> channels = new LinkedHashSet<>();
        String template;
        Map<String, String> params = new LinkedHashMap<>();
        String pushTitle;
        String pushBody;
        String smsText;
        String emailSubject;
        String emailText;
        String locale;
        Integer sendInS;
        Integer expiresInS;
        int count = 1;
        String idPrefix;

        static Args parse(String[] argv) {
            Args a = new Args();
            for (int i = 0; i < argv.length; i++) {
                String arg = argv[i];
                if (arg.equals("-h") || arg.equals("--help")) {
                    throw new Usage(null);
                }
                if (arg.equals("--skip-id-check")) {
                    a.skipIdCheck = true;
                    continue;
                }
                String name = arg;
                String value;
                int eq = arg.indexOf('=');
                if (arg.startsWith("--") && eq > 0) {
                    name = arg.substring(0, eq);
                    value = arg.substring(eq + 1);
                } else {
                    if (i + 1 >= argv.length) {
                        throw new Usage("argument " + arg + " expected one argument");
                    }
                    value = argv[++i];
                }
                switch (name) {
                    case "--bootstrap" -> a.bootstrap = value;
                    case "--registry" -> a.registry = value;
                    case "--topic" -> a.topic = value;
                    case "--schema" -> a.schemaFile = Path.of(value);
                    case "--timeout-s" -> a.timeoutS = positiveDouble(name, value);
                    case "--use-id" -> a.useId = choice(name, value, new String[] {"contentId", "globalId"}, false);
                    case "--tenant" -> a.tenant = value;
                    case "--user" -> a.users.add(value);
                    case "--category" -> a.category = value;
                    case "--priority" -> a.priority = choice(name, value, PRIORITIES, true);
                    case "--channel" -> a.channels.add(choice(name, value, CHANNELS, true));
                    case "--template" -> a.template = value;
                    case "--param" -> {
                        int sep = value.indexOf('=');
                        if (sep <= 0) {
                            throw new Usage("--param wants NAME=VALUE, got '" + value + "'");
                        }
                        a.params.put(value.substring(0, sep), value.substring(sep + 1));
                    }
                    case "--push-title" -> a.pushTitle = value;
                    case "--push-body" -> a.pushBody = value;
                    case "--sms-text" -> a.smsText = value;
                    case "--email-subject" -> a.emailSubject = value;
                    case "--email-text" -> a.emailText = value;
                    case "--locale" -> a.locale = value;
                    case "--send-in-s" -> a.sendInS = integer(name, value);
                    case "--expires-in-s" -> a.expiresInS = integer(name, value);
                    case "--count" -> a.count = integer(name, value);
                    case "--id-prefix" -> a.idPrefix = value;
                    default -> throw new Usage("unrecognized argument: " + arg);
                }
            }
            List<String> missing = new ArrayList<>();
            if (a.registry == null) {
                missing.add("--registry");
            }
            if (a.tenant == null) {
                missing.add("--tenant");
            }
            if (a.users.isEmpty()) {
                missing.add("--user");
            }
            if (a.category == null) {
                missing.add("--category");
            }
            if (!missing.isEmpty()) {
                throw new Usage("the following arguments are required: " + String.join(", ", missing));
            }
            if (a.count < 1) {
                throw new Usage("--count must be at least 1");
            }
            if (!a.params.isEmpty() && a.template == null) {
                throw new Usage("--param needs --template");
            }
            return a;
        }

        static String choice(String name, String value, String[] choices, boolean upper) {
            String v = upper ? value.toUpperCase(Locale.ROOT) : value;
            for (String c : choices) {
                if (c.equals(v)) {
                    return c;
                }
            }
            throw new Usage("argument " + name + ": invalid choice: '" + value + "' (choose from "
                    + String.join(", ", choices) + ")");
        }

        static int integer(String name, String value) {
            try {
                return Integer.parseInt(value);
            } catch (NumberFormatException err) {
                throw new Usage("argument " + name + ": invalid int value: '" + value + "'");
            }
        }

        static double positiveDouble(String name, String value) {
            try {
                double d = Double.parseDouble(value);
                if (d > 0) {
                    return d;
                }
            } catch (NumberFormatException err) {
                // fall through
            }
            throw new Usage("argument " + name + ": wants a positive number of seconds, got '" + value + "'");
        }
    }

    private NotifyProducer() {
    }
}
