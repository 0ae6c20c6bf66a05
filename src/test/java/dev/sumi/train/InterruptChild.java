package dev.sumi.train;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/** The child JVM of InterruptTest: a "loop" that polls the flag, and on a request takes 300 ms to "save". */
public final class InterruptChild {
    public static void main(String[] args) throws Exception {
        Interrupt in = new Interrupt(Duration.ofSeconds(10)).install();
        System.out.println("ready");
        System.out.flush();
        while (!in.requested()) Thread.sleep(5);
        Thread.sleep(300);
        Files.writeString(Path.of(args[0]).resolve("saved"), "state");
        in.loopFinished();
        Thread.sleep(60_000);   // the JVM is already exiting: this never ends the test by itself
    }
}
