package searchlight;

import java.util.Optional;
import org.neo4j.configuration.Config;
import org.neo4j.gds.LicensingBusinessFacade;
import org.neo4j.gds.OpenGdsLicenseState;
import org.neo4j.gds.SysInfoProcFacade;
import org.neo4j.gds.applications.modelcatalog.ModelRepository;
import org.neo4j.gds.applications.operations.FeatureTogglesRepository;
import org.neo4j.gds.core.model.OpenModelCatalogProvider;
import org.neo4j.gds.core.write.NativeExportBuildersProvider;
import org.neo4j.gds.metrics.Metrics;
import org.neo4j.gds.procedures.integration.DefaultExportLocation;
import org.neo4j.gds.procedures.integration.LogAccessor;
import org.neo4j.gds.procedures.integration.OpenGraphDataScienceExtensionBuilder;
import org.neo4j.kernel.api.procedure.GlobalProcedures;
import org.neo4j.kernel.extension.ExtensionFactory;
import org.neo4j.kernel.extension.context.ExtensionContext;
import org.neo4j.kernel.lifecycle.Lifecycle;
import org.neo4j.logging.internal.LogService;

/**
 * Wires the open-source Graph Data Science library into the server.
 *
 * <p>Maven Central carries GDS's modules but not its packaging module, whose
 * extension registers the one component every GDS procedure injects. This is
 * that extension for the open edition, built from the public builder in
 * {@code procedure-integration}: native write-back, no metrics, no stored
 * models (the open edition has none), and the facade of the version and
 * system-information procedures.
 */
public final class OpenGdsExtension extends ExtensionFactory<OpenGdsExtension.Dependencies> {
    /** What the server hands the extension. */
    public interface Dependencies {
        LogService logService();

        GlobalProcedures globalProcedures();

        Config config();
    }

    public OpenGdsExtension() {
        super("searchlight.gds");
    }

    @Override
    public Lifecycle newInstance(ExtensionContext context, Dependencies dependencies) {
        var log = new LogAccessor().getLog(dependencies.logService(), getClass());
        var config = dependencies.config();
        var modelCatalog = new OpenModelCatalogProvider().setAndGet(OpenGdsLicenseState.INSTANCE);
        ModelRepository noStoredModels = model -> {
            throw new UnsupportedOperationException("storing models needs GDS Enterprise");
        };
        var built = OpenGraphDataScienceExtensionBuilder.create(
                log,
                dependencies.globalProcedures(),
                config,
                (database, configuration) -> new NativeExportBuildersProvider(),
                new DefaultExportLocation(log, config),
                new FeatureTogglesRepository(),
                Metrics.DISABLED,
                modelCatalog,
                noStoredModels,
                Optional.empty(),
                Optional.empty(),
                Optional.empty());
        // gds.version(), gds.debug.sysInfo() and gds.license.state() inject this one.
        var licensing = new LicensingBusinessFacade(() -> OpenGdsLicenseState.INSTANCE);
        dependencies.globalProcedures().registerComponent(
                SysInfoProcFacade.class, procedureContext -> new SysInfoProcFacade(licensing), true);
        return built.getLeft().build();
    }
}
