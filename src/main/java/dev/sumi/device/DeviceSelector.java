package dev.sumi.device;

import java.util.Locale;

/**
 * Chooses the device a command runs on: {@code --device host|cuda|cuda:N}, else the system property
 * {@code sumi.device}, else the first GPU when one is usable and the host otherwise. The choice is
 * logged by the caller, never made silently.
 */
public final class DeviceSelector {
    private DeviceSelector() {}

    public static Device open(String requested) {
        String want = requested != null ? requested : System.getProperty("sumi.device", "auto");
        want = want.trim().toLowerCase(Locale.ROOT);
        if (want.equals("host") || want.equals("cpu")) return HostDevice.open();
        if (want.equals("cuda") || want.equals("gpu")) return CudaDevice.open(0);
        if (want.startsWith("cuda:")) {
            try {
                return CudaDevice.open(Integer.parseInt(want.substring(5)));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--device " + want + ": expected cuda:N with N a GPU index");
            }
        }
        if (want.equals("auto")) return CudaDevice.isAvailable() ? CudaDevice.open(0) : HostDevice.open();
        throw new IllegalArgumentException("--device " + want + ": expected host, cuda or cuda:N");
    }
}
