package dev.sumi.cli;

import dev.sumi.device.Device;
import dev.sumi.device.SelfTest;
import picocli.CommandLine.Command;

import java.util.List;

/**
 * The README's first command. Training is not built yet (issues 4 to 7 add the model files, the
 * ops, the networks and the loop), so for now it proves the engine underneath works and says so
 * plainly; it does not pretend to train.
 */
@Command(name = "demo", description = "Train a small LoRA on an embedded tiny model (for now: the device self-test).")
public final class DemoCommand implements java.util.concurrent.Callable<Integer> {

    @picocli.CommandLine.Mixin
    DeviceOption device;

    @Override
    public Integer call() {
        try (Device d = device.open()) {
            System.out.println("sumi demo on " + d.name());
            List<SelfTest.Check> checks = SelfTest.run(d);
            for (SelfTest.Check c : checks) System.out.printf("  %-36s %s%n", c.name(), c.passed() ? "ok" : "FAILED: " + c.detail());
            boolean ok = checks.stream().allMatch(SelfTest.Check::passed);
            System.out.println();
            System.out.println("Not built yet: the tiny model, the networks and the training loop (coming next).");
            System.out.println("This build has the device layer and its kernels: " + (ok ? "all self-tests passed." : "SELF-TEST FAILED."));
            System.out.println("Try ./sumi doctor for a full report.");
            return ok ? 0 : 1;
        }
    }
}
