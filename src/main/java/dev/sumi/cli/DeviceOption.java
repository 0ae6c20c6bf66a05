package dev.sumi.cli;

import dev.sumi.device.Device;
import dev.sumi.device.DeviceSelector;
import picocli.CommandLine.Option;

/** {@code --device host|cuda|cuda:N}, shared by every command that runs on a device. */
public final class DeviceOption {
    @Option(names = "--device", description = "host, cuda or cuda:N (default: a GPU if usable, else the host).")
    String device;

    public Device open() {
        return DeviceSelector.open(device);
    }
}
