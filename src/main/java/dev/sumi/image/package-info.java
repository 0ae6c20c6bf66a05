/**
 * Images out, the way AUTOMATIC1111 writes them, with no fonts and no dependency beyond the JDK.
 *
 * <pre>
 *   Infotext info = new Infotext(prompt, negative, steps, "Euler a", cfg, seed, w, h, hash, name, clipSkip, extras, version);
 *   ImageNames.writeNext(outDir, seed, image, Map.of("parameters", info.text()));   // outDir/00042-SEED.png, never overwrites
 *   RgbImage grid = XyGrid.render("weight", weights, "checkpoint", checkpoints, cells);  // cells[row][col]
 *   PngFile.writeNew(outDir, "grid", grid, Map.of());                                // outDir/grid.png, never overwrites
 *   Infotext.parse(PngFile.readText(Files.readAllBytes(png)).get("parameters"));    // and back
 * </pre>
 *
 * {@link dev.sumi.image.PngFile} writes the text chunks Pillow writes (A1111's "PNG Info" reads them through Pillow);
 * {@link dev.sumi.image.BitmapFont} is a hand-drawn 5x9 font for the grid labels. scripts/check-png-info compares a
 * file's text chunks with Pillow's.
 */
package dev.sumi.image;
