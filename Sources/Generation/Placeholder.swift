enum GenerationPlaceholder {}
