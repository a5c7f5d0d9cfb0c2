"""The ground floor: models, the database, the clock, settings, errors, the fixed vocabularies and the rules every
input path checks with. Imports nothing else from tracker."""
