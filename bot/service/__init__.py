"""Service: dispatch, announcing, jobs and the serve loop; `build_app` wires the stages together."""
