package dev.sumi.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code sumi} command line. Commands only parse, validate, call into the library and print;
 * a failure prints one line (the stack trace with --debug) and exits non-zero.
 */
@Command(name = "sumi", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "LoRA training for Stable Diffusion: Java + hand-written CUDA kernels.",
        subcommands = {DoctorCommand.class, DemoCommand.class, InspectCommand.class, GenerateCommand.class, PreviewCommand.class, MakeModelCommand.class, TokenizeCommand.class, EvalCommand.class, BenchCommand.class, PlanCommand.class, TrainCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT, description = "Print stack traces of errors.")
    static boolean debug;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    public static int execute(String... args) {
        debug = false;   // static so every subcommand sees it; reset for callers that run several commands in one JVM
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("sumi: " + oneLine(e));
            if (debug) e.printStackTrace(cmd.getErr());
            return 1;
        });
        return cl.execute(args);
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) m = e.getClass().getSimpleName();
        return m.replace('\n', ' ');
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"sumi " + (v != null ? v : "(development build)")};
        }
    }
}
