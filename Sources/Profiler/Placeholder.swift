enum ProfilerPlaceholder {}
