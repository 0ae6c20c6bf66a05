package dev.sumi.data;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Every image of a dataset with its bucket (sizes read from the file headers, EXIF orientation applied). */
public final class Placement {
    private Placement() {}

    /**
     * An image, its folder's repeats and where it goes.
     *
     * @param index position in the list {@link #place} returns (the index {@link EpochPlan} batches carry)
     */
    public record Placed(int index, Dataset.Image image, int repeats, Buckets.Choice choice) {}

    public static List<Placed> place(Dataset dataset, Buckets buckets) {
        List<Placed> out = new ArrayList<>();
        for (Dataset.Subset subset : dataset.subsets()) {
            for (Dataset.Image image : subset.images()) {
                ImageFiles.Size size = ImageFiles.size(image.file());
                Buckets.Choice choice;
                try {
                    choice = buckets.select(size.width(), size.height());
                } catch (DataException e) {
                    throw new DataException(image.file() + ": " + e.getMessage());
                }
                out.add(new Placed(out.size(), image, subset.repeats(), choice));
            }
        }
        return out;
    }

    /** The epoch planner's view of placed images. */
    public static List<EpochPlan.Item> items(List<Placed> placed) {
        List<EpochPlan.Item> out = new ArrayList<>(placed.size());
        for (Placed p : placed) out.add(new EpochPlan.Item(p.index(), p.repeats(), p.choice().bucket()));
        return out;
    }

    /**
     * kohya's ss_bucket_info: {"buckets": {i: {"resolution": [w, h], "count": images x repeats}}, "mean_img_ar_error":
     * mean |bucket aspect - image aspect| without repeats}, buckets sorted by size.
     */
    public static Map<String, Object> bucketInfo(List<Placed> placed) {
        TreeMap<Buckets.Reso, Integer> counts = new TreeMap<>();
        double arError = 0;
        for (Placed p : placed) {
            counts.merge(p.choice().bucket(), p.repeats(), Integer::sum);
            arError += Math.abs(p.choice().arError());
        }
        Map<String, Object> buckets = new LinkedHashMap<>();
        int i = 0;
        for (var e : counts.entrySet()) {
            Map<String, Object> b = new LinkedHashMap<>();
            b.put("resolution", List.of(e.getKey().width(), e.getKey().height()));
            b.put("count", e.getValue());
            buckets.put(Integer.toString(i++), b);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("buckets", buckets);
        out.put("mean_img_ar_error", placed.isEmpty() ? 0.0 : arError / placed.size());
        return out;
    }
}
