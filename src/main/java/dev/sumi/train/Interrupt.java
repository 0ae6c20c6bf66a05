package dev.sumi.train;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Ctrl-C during training: the JVM's shutdown hook sets a flag that the loop polls between steps; the loop then saves
 * a resumable state and calls {@link #loopFinished()}. The hook waits for that (at most a bounded time), so the JVM
 * does not exit in the middle of writing the state. A second Ctrl-C cannot stop the save (the JVM is already shutting
 * down) but the bound ends the wait.
 * <p>
 * The handshake is plain Java, testable without signals: {@link #request()} is what the hook does first, and
 * {@link #awaitLoop(Duration)} is what it does next.
 */
public final class Interrupt implements AutoCloseable {

    private final AtomicBoolean requested = new AtomicBoolean();
    private final CountDownLatch finished = new CountDownLatch(1);
    private final Duration saveBound;
    private Thread hook;

    public Interrupt(Duration saveBound) {
        this.saveBound = saveBound;
    }

    /** Installs the shutdown hook (once). SIGINT and SIGTERM both run it. */
    public Interrupt install() {
        if (hook != null) return this;
        hook = new Thread(() -> {
            if (finished.getCount() == 0) return;   // the loop had already ended: a normal exit
            request();
            System.err.println("sumi: interrupted: saving a resumable state (waiting at most " + saveBound.toSeconds() + " s) ...");
            if (!awaitLoop(saveBound)) System.err.println("sumi: the state was not saved within " + saveBound.toSeconds() + " s; exiting without it");
        }, "sumi-interrupt");
        Runtime.getRuntime().addShutdownHook(hook);
        return this;
    }

    /** Asks the loop to stop at its next poll. */
    public void request() {
        requested.set(true);
    }

    /** The loop polls this between steps. */
    public boolean requested() {
        return requested.get();
    }

    /** The loop calls this once when it has returned, saved or not. */
    public void loopFinished() {
        finished.countDown();
    }

    /** Waits until {@link #loopFinished()} or the bound; true when the loop finished in time. */
    public boolean awaitLoop(Duration bound) {
        try {
            return finished.await(bound.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Marks the loop finished and removes the hook (unless the JVM is already running it). */
    @Override
    public void close() {
        loopFinished();
        if (hook != null) {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running or has run: nothing to remove
            }
            hook = null;
        }
    }
}
