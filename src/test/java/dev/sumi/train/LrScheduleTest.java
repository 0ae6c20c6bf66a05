package dev.sumi.train;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LrScheduleTest {

    @Test
    @SuppressWarnings("unchecked")
    void matchesDiffusersGetScheduler() throws Exception {
        List<Object> schedules = (List<Object>) Golden.load().get("schedules");
        int checked = 0;
        for (Object o : schedules) {
            Map<String, Object> m = (Map<String, Object>) o;
            LrSchedule s = new LrSchedule(LrSchedule.Kind.parse((String) m.get("name")), (int) Golden.num(m.get("warmup")),
                    (int) Golden.num(m.get("total")), (int) Golden.num(m.get("cycles")), Golden.num(m.get("power")));
            double base = Golden.num(m.get("base_lr"));
            double[] lrs = Golden.doubles(m.get("lr"));
            for (int step = 0; step < lrs.length; step++) {
                // torch stores base * lambda in a Python float: equal up to a few double roundings
                assertEquals(lrs[step], s.lr(step, base), 1e-15 * base, s + " step " + step);
                checked++;
            }
        }
        assertTrue(checked > 200, "checked " + checked);
    }

    @Test
    void handDerivedValues() {
        LrSchedule cos = new LrSchedule(LrSchedule.Kind.COSINE, 10, 110, 1, 1);
        assertEquals(0.0, cos.multiplier(0, 1), 0);
        assertEquals(0.5, cos.multiplier(5, 1), 0);
        assertEquals(1.0, cos.multiplier(10, 1), 0);
        assertEquals(0.5, cos.multiplier(60, 1), 1e-15);   // half way through the decay
        assertEquals(0.0, cos.multiplier(110, 1), 1e-15);
        LrSchedule restarts = new LrSchedule(LrSchedule.Kind.COSINE_WITH_RESTARTS, 0, 100, 2, 1);
        assertEquals(1.0, restarts.multiplier(50, 1), 1e-15);   // the second cycle starts again at the top
        assertEquals(0.5, restarts.multiplier(75, 1), 1e-15);
        assertEquals(0.0, restarts.multiplier(100, 1), 0);
        assertEquals(1.0, new LrSchedule(LrSchedule.Kind.CONSTANT, 5, 10, 1, 1).multiplier(0, 1), 0);
        assertEquals(0.25, new LrSchedule(LrSchedule.Kind.LINEAR, 0, 8, 1, 1).multiplier(6, 1), 1e-15);
    }

    @Test
    void badSettingsAreNamed() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LrSchedule.Kind.parse("step")).getMessage().contains("lr_scheduler"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new LrSchedule(LrSchedule.Kind.COSINE, -1, 10, 1, 1))
                .getMessage().contains("lr_warmup_steps"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new LrSchedule(LrSchedule.Kind.COSINE_WITH_RESTARTS, 0, 10, 0, 1))
                .getMessage().contains("lr_scheduler_num_cycles"));
        assertEquals(LrSchedule.Kind.COSINE_WITH_RESTARTS, LrSchedule.Kind.parse("Cosine-With-Restarts"));
    }
}
