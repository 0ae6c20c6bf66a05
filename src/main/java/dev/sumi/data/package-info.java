/**
 * The training dataset, following kohya sd-scripts (library/train_util.py DreamBoothDataset and BucketManager,
 * library/config_util.py, library/model_util.py make_bucket_resolutions) so that a folder prepared for kohya
 * trains the same way here.
 *
 * <h2>Flow</h2>
 * <pre>
 *   Dataset ds = DatasetScan.scan(dir, repeats, captionOptions);    // subsets, raw captions, scan problems
 *   DatasetCheck.Report r = DatasetCheck.run(ds, bucketOptions);    // decode everything: errors + warnings
 *   List&lt;Placed&gt; placed = Placement.place(ds, new Buckets(bucketOptions));   // bucket + resize + crop per image
 *   for each epoch: EpochPlan.plan(Placement.items(placed), batch, seed, epoch, flip) -> batches of one bucket
 *   TrainImages.loadBatch(batch, placed)                             // (B, 3, H, W) floats in [-1, 1]
 *   Captions.process(image.caption(), captionOptions, rng)           // prefix / suffix / shuffle per use
 *   ds.tagFrequency(), ds.datasetDirs(), Placement.bucketInfo(placed) // ss_tag_frequency, ss_dataset_dirs, ss_bucket_info
 * </pre>
 *
 * <h2>Rules (kohya's unless said)</h2>
 * <ul>
 *   <li>Folders: {@code <repeats>_<class tokens>} subfolders of the train dir; a plain folder of images is one
 *       subset with the caller's repeats (sumi's convenience). Captions: same-name {@code .txt}, then
 *       {@code .caption} (kohya's default); first line, stripped; without one the class tokens, else "".</li>
 *   <li>Geometry: buckets from make_bucket_resolutions, nearest aspect ratio, resize to cover (sizes rounded half
 *       up), center crop; without buckets one bucket of the resolution, same rule. Resize filter: area average when
 *       both sides shrink (cv2.INTER_AREA), Lanczos-3 otherwise (PIL LANCZOS), as kohya's resize_image.</li>
 *   <li>Steps per epoch = sum over buckets of ceil(images x repeats in the bucket / batch size).</li>
 *   <li>Decoding: alpha dropped like PIL convert("RGB"). Differences from kohya: JPEG EXIF orientation is applied
 *       (PIL's Image.open ignores it); 16-bit images scale to 8 bits (PIL clips 16-bit grayscale); extensions match
 *       in any case; the shuffle RNG is java.util.Random seeded by (seed, epoch), so orders differ from kohya's while
 *       counts match; wildcards, caption dropout, token warmup, face crop, random crop, color aug and alpha masks
 *       are not supported.</li>
 * </ul>
 */
package dev.sumi.data;
