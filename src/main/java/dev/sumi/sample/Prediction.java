package dev.sumi.sample;

/** What the model outputs: the noise (SD 1.x, SD 2.x base) or the velocity sqrt(a) eps - sqrt(1-a) x0 (SD 2.x 768-v). */
public enum Prediction {
    EPSILON,
    V
}
