package dev.sumi.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InterruptTest {

    @Test
    void theHookWaitsForTheLoopsSave() throws Exception {
        Interrupt in = new Interrupt(Duration.ofSeconds(5));
        AtomicBoolean saved = new AtomicBoolean();
        Thread loop = new Thread(() -> {
            while (!in.requested()) Thread.onSpinWait();
            try {
                Thread.sleep(100);   // the save
            } catch (InterruptedException e) {
                return;
            }
            saved.set(true);
            in.loopFinished();
        });
        loop.start();
        assertFalse(in.requested());
        in.request();                                        // what the hook does first
        assertTrue(in.awaitLoop(Duration.ofSeconds(5)));     // ... and then
        assertTrue(saved.get(), "the wait returned before the save was done");
        loop.join();
    }

    @Test
    void theWaitIsBounded() {
        Interrupt in = new Interrupt(Duration.ofSeconds(5));
        in.request();
        long t0 = System.nanoTime();
        assertFalse(in.awaitLoop(Duration.ofMillis(50)));   // a loop that never answers
        assertTrue(System.nanoTime() - t0 < 2_000_000_000L);
        in.close();
        assertTrue(in.awaitLoop(Duration.ZERO));
    }

    /** A real SIGINT to a child JVM running {@link InterruptChild}: it must save, then exit. */
    @Test
    @EnabledOnOs({OS.LINUX, OS.MAC})
    void sigintInAChildJvmSavesBeforeExit(@TempDir Path dir) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), InterruptChild.class.getName(), dir.toString())
                .redirectErrorStream(true).start();
        try {
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("ready", r.readLine());
            Process kill = new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).inheritIO().start();
            assertEquals(0, kill.waitFor());
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "the child did not exit");
            String rest = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(Files.exists(dir.resolve("saved")), "no save before exit; child said: " + rest);
            assertTrue(rest.contains("saving a resumable state"), rest);
            assertEquals(130, p.exitValue());   // 128 + SIGINT: the JVM's exit status after the hooks ran
        } finally {
            p.destroyForcibly();
        }
    }
}
