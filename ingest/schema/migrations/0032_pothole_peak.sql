-- The peak of each pothole event (g) and the median peak of a cluster: a pothole's jolt stands
-- above the peaks a rough surface gives on every pass (see IndicatorParams.pothole_min_peak_g).
ALTER TABLE pothole_events ADD COLUMN peak real;
ALTER TABLE pothole_clusters ADD COLUMN peak real;
