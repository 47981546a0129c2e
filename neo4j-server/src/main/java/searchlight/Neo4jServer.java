package searchlight;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilders;
import org.neo4j.io.ByteUnit;

/**
 * Runs Neo4j community in-process (Neo4j's test harness) until it is stopped.
 *
 * <p>Arguments: the state folder. Bolt listens on a free loopback port, with
 * authentication on: user neo4j, the password read from {@code <folder>/password}.
 * Once Bolt answers, the server's URL goes to {@code <folder>/url} (written
 * whole, then renamed, so a reader never sees half of it). Jars in
 * {@code <folder>/plugins} are loaded as plugins, with {@code gds.*}
 * procedures allowed. Environment: NEO4J_PAGECACHE (e.g. 512m).
 */
public final class Neo4jServer {
    private Neo4jServer() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: Neo4jServer STATE_FOLDER");
            System.exit(2);
        }
        Path state = Path.of(args[0]).toAbsolutePath();
        Path plugins = Files.createDirectories(state.resolve("plugins"));
        Path work = Files.createDirectories(state.resolve("data"));
        String password = Files.readString(state.resolve("password"), StandardCharsets.UTF_8).trim();
        int port = freePort();
        String pagecache = System.getenv().getOrDefault("NEO4J_PAGECACHE", "512m");

        Neo4j neo4j = Neo4jBuilders.newInProcessBuilder(work)
                .withDisabledServer()
                .withConfig(BoltConnector.enabled, true)
                .withConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .withConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                .withConfig(GraphDatabaseSettings.auth_enabled, true)
                .withConfig(GraphDatabaseSettings.plugin_dir, plugins)
                .withConfig(GraphDatabaseSettings.procedure_unrestricted, List.of("gds.*"))
                .withConfig(GraphDatabaseSettings.procedure_allowlist, List.of("*"))
                .withConfig(GraphDatabaseSettings.pagecache_memory, parseBytes(pagecache))
                .build();
        neo4j.databaseManagementService()
                .database("system")
                .executeTransactionally(
                        "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                        Map.of("password", password));

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            neo4j.close();
            stopped.countDown();
        }));
        String url = "bolt://neo4j@127.0.0.1:" + port + "/neo4j";
        Path partial = state.resolve("url.partial");
        Files.writeString(partial, url + "\n", StandardCharsets.UTF_8);
        Files.move(partial, state.resolve("url"), StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
        System.out.println("Neo4j " + neo4j.boltURI() + " ready: " + url);
        stopped.await();
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private static long parseBytes(String text) {
        String t = text.trim().toLowerCase();
        long unit = switch (t.charAt(t.length() - 1)) {
            case 'k' -> ByteUnit.kibiBytes(1);
            case 'm' -> ByteUnit.mebiBytes(1);
            case 'g' -> ByteUnit.gibiBytes(1);
            default -> 1;
        };
        String digits = unit == 1 ? t : t.substring(0, t.length() - 1);
        return Long.parseLong(digits) * unit;
    }
}
